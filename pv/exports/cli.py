"""`pvtracker dsmb-report`, `pvtracker export ctgov`, `pvtracker export sdtm` and
`pvtracker dsur`."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from pv import inputs
from pv.cli import CommandError, add_actor_argument
from pv.i18n import LANGUAGES, ngettext, use
from pv.i18n import gettext as _


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dsmb-report",
        help=_("write the DSMB safety workbook (.xlsx) for an open or closed session"),
        description=_(
            "Write the DSMB safety workbook: cover, contents, standard tables, AE "
            "listings, exposure summary and charts. Open session: pooled across arms; closed "
            "session: by arm (coded A, B, ... with --mask-arms)."
        ),
        epilog=_(
            "The closed session is only for DSMB members and users with the unblinded "
            "permission: name one with --as USERNAME (or PV_ACTOR). The open session lists "
            "no patients unless the study's DSMB charter setting allows it."
        ),
    )
    p.add_argument("--study", required=True, help=_("study id"))
    p.add_argument("--cutoff", required=True, help=_("data cut-off date, YYYY-MM-DD"))
    p.add_argument("--session", required=True, choices=("open", "closed"))
    p.add_argument("--mask-arms", action="store_true", help=_("code the arms as Arm A, Arm B, ..."))
    p.add_argument(
        "--as",
        dest="acting_as",
        metavar="USERNAME",
        default=None,
        help=_(
            "the DSMB member or unblinded user the closed session is written for (default: "
            "$PV_ACTOR); not needed for the open session"
        ),
    )
    p.add_argument(
        "--lang",
        choices=tuple(LANGUAGES),
        default="en",
        help=_(
            "language of the workbook's sheet names, headers, footnotes and charts (default "
            "en); reported terms and narratives are data and stay as entered"
        ),
    )
    p.add_argument("--out", required=True, help=_("the .xlsx file to write"))
    p.set_defaults(func=run_dsmb)

    charter = subparsers.add_parser(
        "dsmb-charter",
        help=_("the study's DSMB charter setting: patient listings in the open session"),
        description=_(
            "Set whether the open DSMB session lists patients (the AE, SAE, death and AESI "
            "listings and the exposure summary per subject). Off by default: the open "
            "session then holds pooled tables and charts only. An admin's change, audited."
        ),
    )
    charter.add_argument("--study", required=True, help=_("study id"))
    charter.add_argument(
        "--open-listings",
        required=True,
        choices=("yes", "no"),
        help=_("yes: the open session lists patients; no: it does not"),
    )
    charter.add_argument("--reason", help=_("why (kept in the audit trail)"))
    from pv.cli import add_actor_argument as actor_option  # a data-changing command

    actor_option(charter)
    charter.set_defaults(func=run_dsmb_charter, roles=("admin",))

    export = subparsers.add_parser(
        "export", help=_("regulatory exports (ClinicalTrials.gov, SDTM)")
    )
    sub = export.add_subparsers(dest="export", required=True, metavar="FORMAT")
    c = sub.add_parser(
        "ctgov",
        help=_("ClinicalTrials.gov results: adverse events module and rate-ratio analyses (JSON)"),
    )
    c.add_argument("--study", required=True, help=_("study id"))
    c.add_argument(
        "--threshold",
        type=float,
        default=5.0,
        help=_("frequency threshold for other (non-serious) events, percent (default 5)"),
    )
    c.add_argument("--cutoff", help=_("data cut-off date, YYYY-MM-DD (default: all data)"))
    c.add_argument("--out", required=True, help=_("the .json file to write"))
    add_actor_argument(c)  # a blinded study: only for a user who may see the arms
    c.set_defaults(func=run_ctgov)
    s = sub.add_parser(
        "sdtm", help=_("SDTM DM, AE, EX, SUPPAE, DS, VS and DD as CSV and SAS transport (.xpt)")
    )
    s.add_argument("--study", required=True, help=_("study id"))
    s.add_argument("--out", required=True, help=_("directory to write dm/ae/ex .csv and .xpt to"))
    add_actor_argument(s)  # a blinded study: arms masked unless --as may see them
    s.set_defaults(func=run_sdtm)

    d = subparsers.add_parser(
        "dsur",
        help=_("write the DSUR line listings and cumulative SAE tabulation (.xlsx, ICH E2F)"),
        description=_(
            "Write the DSUR workbook (ICH E2F): the cumulative tabulation of serious adverse "
            "events by system organ class, term and arm up to the data lock point (--to), "
            "and the line listing of serious adverse reactions received in the reporting "
            "period (--from to --to). A blinded study's arms are pooled unless --as names a "
            "user with the unblinded permission."
        ),
    )
    d.add_argument("--study", required=True, help=_("study id"))
    d.add_argument(
        "--from",
        dest="start",
        required=True,
        help=_("first day of the reporting period, YYYY-MM-DD"),
    )
    d.add_argument(
        "--to",
        dest="end",
        required=True,
        help=_("last day of the reporting period (the data lock point), YYYY-MM-DD"),
    )
    d.add_argument(
        "--lang",
        choices=tuple(LANGUAGES),
        default="en",
        help=_("language of the workbook's sheet names, headers and rules (default en)"),
    )
    d.add_argument("--out", required=True, help=_("the .xlsx file to write"))
    add_actor_argument(d)  # a blinded study: arms pooled unless --as may see them
    d.set_defaults(func=run_dsur)


def _date(text: str | None, option: str = "--cutoff") -> date | None:
    if text is None:
        return None
    try:
        return inputs.parse_date(text)
    except ValueError as exc:
        raise CommandError(
            _(
                "%(option)s must be a date YYYY-MM-DD, not %(value)s",
                option=option,
                value=repr(text),
            )
        ) from exc


def run_dsmb(args: argparse.Namespace) -> int:
    from pv.analysis.data import StudyNotFound
    from pv.cli import database
    from pv.exports.book import sheet_name
    from pv.exports.workbook import ALL_EVENTS_SHEET, build_dsmb_workbook

    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        raise CommandError(_("--out must name an .xlsx file"))
    cutoff = _date(args.cutoff)
    assert cutoff is not None
    engine = database(upgrade=True)
    if args.session == "closed":
        _closed_session_reader(engine, args)
    try:
        rows = build_dsmb_workbook(
            engine,
            study_id=args.study,
            cutoff=cutoff,
            session=args.session,
            # a blinded study: coded arms unless --as may see them (pv.blinding)
            mask_arms=args.mask_arms or (args.session == "closed" and _arms_masked(args)),
            out=out,
            language=args.lang,
        )
    except StudyNotFound as exc:
        raise CommandError(str(exc)) from exc
    with use(args.lang):  # the sheet's name in the workbook's language
        listed = rows.get(sheet_name(_(ALL_EVENTS_SHEET), set()))
    session = _("open session") if args.session == "open" else _("closed session")
    if listed is None:  # an open session without patient-level listings
        print(
            _(
                "wrote %(file)s: %(sheets)s sheets, no patient-level listings (%(session)s, "
                "cut-off %(cutoff)s)",
                file=out,
                sheets=len(rows) + 2,
                session=session,
                cutoff=cutoff.isoformat(),
            )
        )
        return 0
    print(
        _(
            "wrote %(file)s: %(sheets)s sheets, %(listed)s adverse events listed "
            "(%(session)s, cut-off %(cutoff)s)",
            file=out,
            sheets=len(rows) + 2,
            listed=listed,
            session=session,
            cutoff=cutoff.isoformat(),
        )
    )
    return 0


def _closed_session_reader(engine, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    """The DSMB firewall for the command (pv.exports.firewall): the closed session only
    for the active DSMB member or unblinded user named by --as / PV_ACTOR."""
    from pv.auth.service import get_user
    from pv.cli import acting_username
    from pv.db import read_session
    from pv.exports.firewall import closed_refusal, closed_session_allowed

    username = acting_username(args)
    if username is None:
        raise CommandError(
            _(
                "%(reason)s Name the DSMB member or unblinded user with --as USERNAME "
                "(or PV_ACTOR).",
                reason=closed_refusal(),
            )
        )
    with read_session(engine) as session:
        user = get_user(session, username)
        if user is None or user.disabled or user.locked_at is not None:
            raise CommandError(
                _("--as %(username)s: no active user of that name", username=username)
            )
        if not closed_session_allowed(user):
            raise CommandError(
                _("--as %(username)s: %(reason)s", username=username, reason=closed_refusal())
            )


def run_dsmb_charter(args: argparse.Namespace) -> int:
    from pv.cli import command_actor, database
    from pv.db import write_session
    from pv.exports.firewall import CharterError, set_open_listings

    allowed = args.open_listings == "yes"
    with write_session(database(upgrade=True)) as session:
        actor = command_actor(session, args, "admin")
        try:
            set_open_listings(session=session, actor=actor, study_id=args.study,
                              allowed=allowed, reason=args.reason)  # fmt: skip
        except CharterError as exc:
            raise CommandError(str(exc)) from exc
    if allowed:
        print(_("%(study)s: the open DSMB session lists patients", study=args.study))
    else:
        print(_("%(study)s: the open DSMB session lists no patients", study=args.study))
    return 0


def run_ctgov(args: argparse.Namespace) -> int:
    from pv.analysis.data import StudyNotFound
    from pv.cli import database
    from pv.exports.ctgov import CTGovExportError, export_ctgov

    if _arms_masked(args):
        raise CommandError(_("%(study)s is blinded: its results by arm are exported only for a "
                             "user who may see the arms (--as USERNAME with the unblinded "
                             "permission)", study=args.study))  # fmt: skip
    try:
        payload = export_ctgov(
            database(upgrade=True),
            study_id=args.study,
            out=Path(args.out),
            threshold=args.threshold,
            cutoff=_date(args.cutoff),
        )
    except (StudyNotFound, CTGovExportError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    module = payload["resultsSection"]["adverseEventsModule"]
    print(
        _(
            "wrote %(file)s: %(groups)s event groups, %(serious)s serious and %(other)s "
            "other terms",
            file=args.out,
            groups=len(module["eventGroups"]),
            serious=len(module["seriousEvents"]),
            other=len(module["otherEvents"]),
        )
    )
    return 0


def run_sdtm(args: argparse.Namespace) -> int:
    from pv.cli import database
    from pv.exports.sdtm import NotAscii, export_sdtm

    try:
        counts = export_sdtm(database(upgrade=True), study_id=args.study, out_dir=Path(args.out),
                             mask_arms=_arms_masked(args))  # fmt: skip
    except LookupError as exc:
        raise CommandError(exc.args[0] if exc.args else str(exc)) from exc
    except NotAscii as exc:
        lines = [f"  {d} {u} {s} {v}: {why}" for d, u, s, v, why in exc.problems]
        raise CommandError(
            _(
                "the CSV files are written to %(dir)s; the SAS transport (.xpt) files are not, "
                "because SAS transport v5 holds ASCII text only. Give these records an English "
                "text (for a reported term: its English translation, AETERM_EN):",
                dir=args.out,
            )
            + "\n"
            + "\n".join(lines)
        ) from exc
    written = [
        ngettext("%(dataset)s %(num)d record", "%(dataset)s %(num)d records", v, dataset=k)
        for k, v in counts.items()
    ]
    print(_("wrote %(file)s: %(counts)s", file=args.out, counts=", ".join(written)))
    return 0


def run_dsur(args: argparse.Namespace) -> int:
    from pv.cli import database
    from pv.db import read_session
    from pv.exports.dsur import build_dsur
    from pv.study.models import Study

    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        raise CommandError(_("--out must name an .xlsx file"))
    start, end = _date(args.start, "--from"), _date(args.end, "--to")
    assert start is not None and end is not None
    if start > end:
        raise CommandError(
            _(
                "--from (%(start)s) is after --to (%(end)s)",
                start=start.isoformat(),
                end=end.isoformat(),
            )
        )
    engine = database(upgrade=True)
    with read_session(engine) as session:
        if session.get(Study, args.study) is None:
            raise CommandError(_("no study %(study)s", study=args.study))
    masked = _arms_masked(args)
    with read_session(engine) as session:
        data = build_dsur(session, args.study, start, end, masked=masked, language=args.lang)
    out.write_bytes(data)
    if masked:
        text = _("wrote %(file)s: DSUR of %(study)s, reporting period %(start)s to %(end)s, "
                 "arms pooled (blinded)", file=out, study=args.study, start=start.isoformat(),
                 end=end.isoformat())  # fmt: skip
    else:
        text = _("wrote %(file)s: DSUR of %(study)s, reporting period %(start)s to %(end)s",
                 file=out, study=args.study, start=start.isoformat(),
                 end=end.isoformat())  # fmt: skip
    print(text)
    return 0


def _arms_masked(args: argparse.Namespace) -> bool:
    """A blinded study's arms are masked unless --as / PV_ACTOR names a user with the
    unblinded permission (pv.blinding.policy); an open-label study's never are."""
    from pv.blinding.policy import command_arms_visible
    from pv.cli import database
    from pv.db import read_session

    with read_session(database(upgrade=True)) as session:
        return not command_arms_visible(session, args, args.study)
