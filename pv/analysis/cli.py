"""`pvtracker tables`: standard safety tables for one study, as text, CSV or JSON."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from pv import inputs
from pv.cli import CommandError, add_actor_argument
from pv.i18n import LANGUAGES
from pv.i18n import gettext as _

LANGUAGE_CHOICES = tuple(LANGUAGES)
# The table names for --help, written out so that `pvtracker --help` need not import the
# analysis modules (numpy, pandas); tests/analysis/test_cli.py checks it is api.TABLE_NAMES.
TABLE_NAMES = (
    "AET01", "AET01_AESI", "AET02", "AET02_SAE", "AET04", "AET05", "AET05_ALL", "AET10",
    "DTHT01", "DMT01", "EXT01", "DST01",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tables",
        help=_("print standard safety tables (AET01, AET02, ...)"),
        description=_("Build standard safety tables for a study (safety population)."),
    )
    p.add_argument("--study", required=True, help=_("study id"))
    p.add_argument(
        "--table",
        required=True,
        help=_(
            "table name (%(names)s); several separated by commas, or 'all'",
            names=", ".join(TABLE_NAMES),
        ),
    )
    p.add_argument("--control", help=_("control arm label or code (default: the comparator arm)"))
    p.add_argument("--cutoff", help=_("data cut-off date, YYYY-MM-DD"))
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    p.add_argument(
        "--lang",
        choices=LANGUAGE_CHOICES,
        default="en",
        help=_(
            "language of the tables' titles, labels and footnotes (default en: boards and "
            "regulators read English); terms and arm labels are data and never translated"
        ),
    )
    p.add_argument(
        "--out",
        help=_(
            "write to this file instead of standard output (a .csv file starts with a "
            "byte-order mark, for Excel)"
        ),
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=_("table parameter, e.g. window_days=30, order=alpha, threshold=10 (repeatable)"),
    )
    # Read-only: --as only says who reads. A blinded study's tables are pooled across arms
    # unless it names a user with the unblinded permission (pv.blinding.policy).
    add_actor_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pv.analysis import render
    from pv.analysis.api import TABLE_NAMES, TableError, build_tables
    from pv.analysis.data import StudyNotFound
    from pv.cli import database

    cutoff = _date(args.cutoff) if args.cutoff else None
    names = TABLE_NAMES if args.table.lower() == "all" else args.table.split(",")
    params = dict(_param(p) for p in args.param)
    try:
        tables = build_tables(
            database(upgrade=True),
            args.study,
            names,
            control=args.control,
            cutoff=cutoff,
            params=params,
            language=args.lang,
        )
    except (TableError, StudyNotFound) as exc:
        raise CommandError(exc.args[0] if exc.args else str(exc)) from exc
    tables = _for_reader(args, tables)
    if args.format == "csv":
        # A file gets a byte-order mark so that Excel reads UTF-8 (Chinese labels, terms).
        text = render.to_csv(tables, bom=bool(args.out))
    elif args.format == "json":
        text = (
            render.to_json(tables[0])
            if len(tables) == 1
            else "[\n" + ",\n".join(render.to_json(t) for t in tables) + "\n]"
        )
        text += "\n"
    else:
        text = "\n".join(render.to_text(t) for t in tables)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _for_reader(args: argparse.Namespace, tables: list) -> list:  # type: ignore[type-arg]
    """The tables as the reader may see them: a blinded study's pooled across arms unless
    --as / PV_ACTOR names a user with the unblinded permission."""
    from sqlmodel import Session

    from pv.analysis.api import pooled
    from pv.blinding.policy import NO_ARMS, command_arms_visible
    from pv.cli import database

    with Session(database()) as session:
        if command_arms_visible(session, args, args.study):
            return tables
    shown = [pooled(t) for t in tables]
    if any(t is None for t in shown):
        raise CommandError(_(NO_ARMS))
    return shown


def _date(text: str) -> date:
    try:
        return inputs.parse_date(text)
    except ValueError as exc:
        raise CommandError(
            _("--cutoff must be a date YYYY-MM-DD, not %(value)s", value=repr(text))
        ) from exc


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CommandError(_("--param takes KEY=VALUE, not %(value)s", value=repr(text)))
    return key.strip(), value.strip()
