"""Commands: db upgrade, status, study import, study language, site add, subject add.

The data-changing commands (study import, study language, site add, subject add) act as
the user named by `--as USERNAME` (or PV_ACTOR), who must be active and hold one of the
roles the command's parser names in its `roles` default; the audit trail records that user.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pv.cli import CommandError, add_actor_argument, command_actor, database
from pv.i18n import gettext as _

if TYPE_CHECKING:
    from pv.audit.service import Actor


def acting_user(engine, args: argparse.Namespace) -> Actor:  # type: ignore[no-untyped-def]
    """The Actor of a data-changing command: the active user named by --as / PV_ACTOR,
    holding one of the roles the command's parser sets (`set_defaults(roles=...)`; the
    README's table of commands lists them). Checked before anything is written."""
    from pv.db import read_session

    with read_session(engine) as session:
        return command_actor(session, args, *args.roles)


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help=_("database maintenance"))
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help=_("apply the migrations (creates the database)"))
    up.add_argument(
        "--owner-url",
        default=None,
        help=_(
            "PostgreSQL: migrate as the role that owns the tables and grant the application's "
            "role (the user of PV_DATABASE_URL) its rights (default: $PV_DATABASE_OWNER_URL)"
        ),
    )
    up.set_defaults(func=_db_upgrade)

    st = sub.add_parser("status", help=_("studies, arms, subjects, events and terminologies"))
    st.add_argument("--json", action="store_true", help=_("machine-readable output"))
    st.set_defaults(func=_status)

    study = sub.add_parser("study", help=_("studies"))
    study_sub = study.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    imp = study_sub.add_parser(
        "import", help=_("create or update a study from a ClinicalTrials.gov API v2 study JSON")
    )
    imp.add_argument("file", type=Path)
    add_actor_argument(imp)
    imp.set_defaults(func=_study_import, roles=("admin",))
    lang = study_sub.add_parser(
        "language", help=_("set the study's default interface language (en, zh-Hans)")
    )
    lang.add_argument("--study", required=True)
    lang.add_argument("language", help=_("en or zh-Hans"))
    add_actor_argument(lang)
    lang.set_defaults(func=_study_language, roles=("admin",))

    site = sub.add_parser("site", help=_("trial sites"))
    site_sub = site.add_subparsers(dest="site_command", required=True, metavar="ACTION")
    add = site_sub.add_parser("add", help=_("add a site to a study"))
    add.add_argument("--study", required=True)
    add.add_argument("--id", required=True, dest="code")
    add.add_argument("--name", required=True)
    add_actor_argument(add)
    add.set_defaults(func=_site_add, roles=("admin",))

    subject = sub.add_parser("subject", help=_("trial subjects"))
    subject_sub = subject.add_subparsers(dest="subject_command", required=True, metavar="ACTION")
    sadd = subject_sub.add_parser("add", help=_("add a subject to a site (USUBJID is built)"))
    sadd.add_argument("--study", required=True)
    sadd.add_argument("--site", required=True, help=_("site id"))
    sadd.add_argument("--subjid", required=True, help=_("letters, digits, . _ - (kept as typed)"))
    sadd.add_argument("--arm", help=_("arm code or label"))
    sadd.add_argument("--sex", choices=("M", "F", "U"))
    sadd.add_argument("--consent", help=_("informed consent date, YYYY-MM-DD"))
    sadd.add_argument("--randomized", help=_("randomization date, YYYY-MM-DD (not before consent)"))
    add_actor_argument(sadd)
    # An investigator adds subjects at their own sites, as on the web form and the API.
    sadd.set_defaults(func=_subject_add, roles=("admin", "investigator"))


def _study_language(args: argparse.Namespace) -> int:
    from pv.db import write_session
    from pv.study.service import StudyError, set_study_language

    engine = database(upgrade=True)
    actor = acting_user(engine, args)
    with write_session(engine) as session:
        try:
            study = set_study_language(session=session, actor=actor,
                                       study_id=args.study, language=args.language)  # fmt: skip
        except StudyError as exc:
            raise CommandError(str(exc)) from exc
        print(_("%(study)s: default language %(language)s", study=study.id,
                language=study.language))  # fmt: skip
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    """Migrate (as the owner when given), then grant the application's role (issue 13)."""
    from sqlalchemy.engine import make_url

    from pv.db import make_engine
    from pv.migrate import current_revision, current_user, grant_runtime, owns_schema, upgrade
    from pv.settings import get_settings

    settings = get_settings()
    owner_url = args.owner_url or settings.database_owner_url
    if not owner_url:
        engine = database(upgrade=True)
        print(_("database at revision %(revision)s", revision=current_revision(engine)))
        if engine.dialect.name == "postgresql" and owns_schema(engine):
            print(_("warning: the application's role %(role)s owns the tables and could alter "
                    "the audit trail's triggers; see docs/deployment.md (two roles)",
                    role=current_user(engine)), file=sys.stderr)  # fmt: skip
        return 0
    owner = make_engine(owner_url)
    try:
        upgrade(owner)
        print(_("database at revision %(revision)s", revision=current_revision(owner)))
        if owner.dialect.name != "postgresql":
            return 0
        runtime = make_url(settings.database_url).username
        if runtime and runtime != current_user(owner):
            grant_runtime(owner, runtime)
            print(_("granted the application's role %(role)s its rights (read and insert "
                    "only on the audit trail)", role=runtime))  # fmt: skip
        else:
            print(_("warning: PV_DATABASE_URL connects as the owner %(role)s: the application "
                    "could alter the audit trail's triggers; see docs/deployment.md",
                    role=current_user(owner)), file=sys.stderr)  # fmt: skip
    finally:
        owner.dispose()
    return 0


def _status(args: argparse.Namespace) -> int:
    from pv.db import read_session
    from pv.status import format_status, status

    with read_session(database(upgrade=True)) as session:
        data = status(session)
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else format_status(data))
    return 0


def import_study_file(engine, path: Path, actor: Actor):  # type: ignore[no-untyped-def]
    from pv.db import write_session
    from pv.study.ctgov import RecordError, parse_ctgov
    from pv.study.service import import_ctgov

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CommandError(_("%(file)s: no such file", file=path)) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CommandError(
            _("%(file)s: not valid JSON (%(detail)s)", file=path, detail=exc)
        ) from exc
    try:
        spec = parse_ctgov(record)
    except RecordError as exc:
        raise CommandError(f"{path}: " + "; ".join(exc.problems)) from exc
    with write_session(engine) as session:
        study, created = import_ctgov(session=session, actor=actor, spec=spec)
        return study.id, created


def _study_import(args: argparse.Namespace) -> int:
    engine = database(upgrade=True)
    actor = acting_user(engine, args)
    study_id, created = import_study_file(engine, args.file, actor)
    if created:
        print(_("created study %(study)s", study=study_id))
    else:
        print(_("updated study %(study)s", study=study_id))
    return 0


def _site_add(args: argparse.Namespace) -> int:
    from pv.db import write_session
    from pv.study.service import StudyError, add_site

    engine = database(upgrade=True)
    actor = acting_user(engine, args)
    with write_session(engine) as session:
        try:
            site = add_site(
                session=session,
                actor=actor,
                study_id=args.study,
                code=args.code,
                name=args.name,
            )
        except StudyError as exc:
            raise CommandError(str(exc)) from exc
        print(
            _(
                "added site %(code)s (%(name)s) to %(study)s",
                code=site.code,
                name=site.name,
                study=args.study,
            )
        )
    return 0


def _subject_add(args: argparse.Namespace) -> int:
    """`subject add`: the same rules as the web form and the API (`add_subject`,
    `pv.inputs`); a refusal names the field, as they do: `error: subjid: ...`."""
    from sqlmodel import select

    from pv.auth.service import get_user, visible_site_ids
    from pv.blinding.policy import arms_visible
    from pv.db import write_session
    from pv.inputs import parse_date
    from pv.study.models import Arm, Site, Study
    from pv.study.service import StudyError, add_subject

    dates, problems = {}, []
    for name, value in (("consent_date", args.consent), ("randomization_date", args.randomized)):
        if value is not None:
            try:
                dates[name] = parse_date(value)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
    if problems:
        raise CommandError("; ".join(problems))
    engine = database(upgrade=True)
    actor = acting_user(engine, args)
    with write_session(engine) as session:
        site = session.exec(
            select(Site).where(Site.study_id == args.study, Site.code == args.site)
        ).first()
        user = get_user(session, actor.username)
        visible = visible_site_ids(session, user) if user is not None else set()
        if site is None or (visible is not None and site.id not in visible):
            # An investigator's other sites are as unknown to them as on the web form.
            raise CommandError(
                _(
                    "site: no site '%(site)s' in study '%(study)s'",
                    site=args.site,
                    study=args.study,
                )
            )
        arm = None
        if args.arm is not None and not arms_visible(user, session.get(Study, args.study)):
            # as the API: a blinded study's arm is not set (nor listed) by a blinded user
            raise CommandError(_("arm: this study is blinded: the arm is not yours to set"))
        if args.arm is not None:
            arms = session.exec(select(Arm).where(Arm.study_id == args.study)).all()
            arm = next((a for a in arms if args.arm in (a.code, a.label)), None)
            if arm is None:
                raise CommandError(
                    _(
                        "arm: unknown arm; one of: %(choices)s",
                        choices=", ".join(a.code for a in arms),
                    )
                )
        try:
            subject = add_subject(
                session=session, actor=actor, study_id=args.study, site=site,
                subjid=args.subjid, arm=arm, sex=args.sex, **dates,
            )  # fmt: skip
        except StudyError as exc:
            raise CommandError(str(exc)) from exc
        print(_("added subject %(subject)s", subject=subject.usubjid))
    return 0
