"""`pvtracker sae-clocks`: the study's expedited-report clocks, open and sent."""

from __future__ import annotations

import argparse
import json
from datetime import date

from pv import inputs
from pv.cli import CommandError
from pv.i18n import gettext as _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sae-clocks",
        help=_("list expedited-report clocks (SUSAR 7/15 days, site SAE 24 h)"),
        description=_("List the open and sent expedited reports of a study, most urgent first."),
    )
    p.add_argument("--study", required=True, help=_("study id, e.g. NCT04660565"))
    p.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))
    p.add_argument("--today", help=_("judge open/overdue as of this date (YYYY-MM-DD)"))
    p.set_defaults(func=run)


def _today(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return inputs.parse_date(text)
    except ValueError as exc:
        raise CommandError(
            _("--today: '%(value)s' is not a date (YYYY-MM-DD)", value=text)
        ) from exc


def run(args: argparse.Namespace) -> int:
    from pv.cli import database
    from pv.db import read_session
    from pv.review.deadlines import list_clocks
    from pv.study.models import Study

    today = _today(args.today)
    with read_session(database(upgrade=True)) as session:
        if session.get(Study, args.study) is None:
            raise CommandError(_("no study '%(study)s'", study=args.study))
        items = list_clocks(session, study_id=args.study, today=today)
    if args.json:
        print(json.dumps([i.as_json() for i in items], indent=2, ensure_ascii=False))
        return 0
    if not items:
        print(_("No expedited reports in %(study)s.", study=args.study))
        return 0
    header = ("event", "subject", "term", "kind", "day 0", "due", "sent", "status")
    rows = [
        (str(i.event_id), i.usubjid, i.term[:32], i.kind, i.awareness_date.isoformat(),
         i.due_date.isoformat(), i.submitted_date.isoformat() if i.submitted_date else "-",
         i.status + (" (due soon)" if i.due_soon else "") + (" (late)" if i.late else ""))
        for i in items
    ]  # fmt: skip
    widths = [max(len(r[k]) for r in (header, *rows)) for k in range(len(header))]
    for row in (header, *rows):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0
