"""Commands: terminology load-ctcae | load-meddra DIR | search QUERY (name, code or synonym)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pv.cli import CommandError, database
from pv.db import read_session
from pv.i18n import gettext as _


def register(sub: argparse._SubParsersAction) -> None:
    term = sub.add_parser("terminology", help=_("terminology releases"))
    ts = term.add_subparsers(dest="terminology_command", required=True, metavar="ACTION")
    ctcae = ts.add_parser("load-ctcae", help=_("load the shipped NCI CTCAE v5.0"))
    ctcae.set_defaults(func=_load_ctcae)
    med = ts.add_parser("load-meddra", help=_("load a licensed MedDRA ASCII release folder"))
    med.add_argument("directory", type=Path)
    med.add_argument("--version", help=_("release version (default: from meddra_release.asc)"))
    med.set_defaults(func=_load_meddra)
    search = ts.add_parser("search", help=_("search terms by name, code or synonym"))
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=20)
    search.set_defaults(func=_search)


def _load_ctcae(args: argparse.Namespace) -> int:
    from pv.terminology.ctcae import load_ctcae

    load_ctcae(database(upgrade=True))
    print(_("CTCAE 5.0 loaded"))
    return 0


def _load_meddra(args: argparse.Namespace) -> int:
    from pv.terminology.meddra import MeddraError, load_meddra

    try:
        _release, n = load_meddra(database(upgrade=True), args.directory, args.version)
    except (MeddraError, UnicodeDecodeError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    print(_("MedDRA loaded: %(n)s lowest level terms", n=n))
    return 0


def _search(args: argparse.Namespace) -> int:
    from pv.terminology.search import search_terms

    with read_session(database(upgrade=True)) as session:
        for hit in search_terms(session, args.query, limit=args.limit):
            line = f"{hit.code}  {hit.term}  [{hit.soc}]"
            print(f"{line}  ({hit.why})" if hit.why else line)
    return 0
