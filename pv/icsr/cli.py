"""`pvtracker report cioms|e2b --event ID [--version N] --out FILE`: a report version of an
event's expedited report (pv.icsr.versions), the latest or the given one, as sent: the same
bytes as the download and the stored submission file."""

from __future__ import annotations

import argparse
from pathlib import Path

from pv.cli import CommandError, add_actor_argument
from pv.i18n import LANGUAGES
from pv.i18n import gettext as _
from pv.inputs import parse_id


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help=_("write a serious event's expedited report"))
    kinds = p.add_subparsers(dest="report_kind", required=True, metavar="FORMAT")
    cioms = kinds.add_parser("cioms", help=_("the CIOMS I form (PDF)"))
    e2b = kinds.add_parser("e2b", help=_("the ICH E2B(R3) individual case safety report (XML)"))
    for q in (cioms, e2b):
        q.add_argument("--event", required=True, help=_("event id"))
        q.add_argument("--version", dest="number", metavar="N",
                       help=_("the report version (default: the latest)"))  # fmt: skip
        q.add_argument("--out", required=True, help=_("the file to write"))
        add_actor_argument(q)  # a blinded study: --as a user who may see the treatment
    cioms.add_argument("--lang", choices=tuple(LANGUAGES), default="en",
                       help=_("language of the form's labels (default en); the data stay "
                              "as written"))  # fmt: skip
    cioms.set_defaults(func=run)
    e2b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pv.cli import database
    from pv.db import read_session
    from pv.icsr.build import CaseError, build_case
    from pv.icsr.models import ReportFormat
    from pv.icsr.versions import get_version, version_file

    event_id = parse_id(args.event)
    if event_id is None:
        raise CommandError(_("--event: '%(value)s' is not an event id", value=args.event))
    number = None
    if args.number is not None:
        number = parse_id(args.number)
        if number is None:
            raise CommandError(
                _("--version: '%(value)s' is not a version number", value=args.number)
            )
    if args.report_kind == "cioms":
        fmt = ReportFormat.cioms_zh if args.lang == "zh-Hans" else ReportFormat.cioms
    else:
        fmt = ReportFormat.e2b
    with read_session(database(upgrade=True)) as session:
        try:
            build_case(session, event_id)  # no event / not serious: say so first
        except CaseError as exc:
            raise CommandError(str(exc)) from exc
        try:
            version = get_version(session, event_id, number)
        except LookupError as exc:
            raise CommandError(str(exc.args[0])) from exc
        name, data = version_file(version, fmt, masked=_masked(session, args, event_id))
        report_id = version.snapshot.get("case_id")
    out = Path(args.out)
    out.write_bytes(data)
    print(_("wrote %(file)s: %(report)s, version %(version)s", file=out,
            report=report_id, version=version.number))  # fmt: skip
    return 0


def _masked(session, args: argparse.Namespace, event_id: int) -> bool:  # type: ignore[no-untyped-def]
    """A blinded study's report masks the treatment unless --as names a user who may see
    it (pv.blinding: the unblinded permission, or that user unblinded the subject)."""
    from pv.blinding.policy import arms_visible, command_user
    from pv.events.models import AdverseEvent
    from pv.study.models import Study

    event = session.get(AdverseEvent, event_id)
    study = session.get(Study, event.study_id) if event is not None else None
    if event is None or study is None or not study.blinded:
        return False  # no event: build_case says so; an open-label study needs no --as
    user = command_user(session, args)
    return not arms_visible(user, study, session=session, subject_id=event.subject_id)
