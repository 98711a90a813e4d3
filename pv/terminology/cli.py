"""Commands: terminology load-ctcae | load-meddra DIR | search QUERY (name, code or synonym).

Loading a release changes data: an admin does it (`--as USERNAME` or PV_ACTOR), and the
audit trail records who loaded which release. Searching is read-only."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pv.cli import CommandError, add_actor_argument, database
from pv.i18n import gettext as _

if TYPE_CHECKING:
    from pv.audit.service import Actor


def register(sub: argparse._SubParsersAction) -> None:
    term = sub.add_parser("terminology", help=_("terminology releases"))
    ts = term.add_subparsers(dest="terminology_command", required=True, metavar="ACTION")
    ctcae = ts.add_parser("load-ctcae", help=_("load the shipped NCI CTCAE v5.0"))
    add_actor_argument(ctcae)
    ctcae.set_defaults(func=_load_ctcae, roles=("admin",))
    med = ts.add_parser("load-meddra", help=_("load a licensed MedDRA ASCII release folder"))
    med.add_argument("directory", type=Path)
    med.add_argument("--version", help=_("release version (default: from meddra_release.asc)"))
    add_actor_argument(med)
    med.set_defaults(func=_load_meddra, roles=("admin",))
    search = ts.add_parser("search", help=_("search terms by name, code or synonym"))
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=20)
    search.set_defaults(func=_search)


def release_ids(engine) -> set[int]:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from pv.db import read_session
    from pv.terminology.models import TerminologyRelease

    with read_session(engine) as session:
        return set(session.exec(select(TerminologyRelease.id)))  # type: ignore[arg-type]


def record_load(engine, actor: Actor, release_id: int, before: set[int]) -> None:  # type: ignore[no-untyped-def]
    """Audit a release the command loaded (one that was there already is not loaded again)."""
    from pv.audit.service import record
    from pv.db import write_session
    from pv.terminology.models import TerminologyRelease

    if release_id in before:
        return
    with write_session(engine) as session:
        release = session.get(TerminologyRelease, release_id)
        assert release is not None
        record(session=session, actor=actor, action="load", entity_type="terminology",
               entity_id=release_id,
               changes={"name": [None, release.name], "version": [None, release.version],
                        "terms": [None, release.term_count]})  # fmt: skip


def _load_ctcae(args: argparse.Namespace) -> int:
    from pv.study.cli import acting_user
    from pv.terminology.ctcae import load_ctcae

    engine = database(upgrade=True)
    actor = acting_user(engine, args)
    before = release_ids(engine)
    record_load(engine, actor, load_ctcae(engine), before)
    print(_("CTCAE 5.0 loaded"))
    return 0


def _load_meddra(args: argparse.Namespace) -> int:
    from pv.study.cli import acting_user
    from pv.terminology.meddra import MeddraError, load_meddra

    engine = database(upgrade=True)
    actor = acting_user(engine, args)
    before = release_ids(engine)
    try:
        release, n = load_meddra(engine, args.directory, args.version)
    except (MeddraError, UnicodeDecodeError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    record_load(engine, actor, release, before)
    print(_("MedDRA loaded: %(n)s lowest level terms", n=n))
    return 0


def _search(args: argparse.Namespace) -> int:
    from pv.db import read_session
    from pv.terminology.search import search_terms

    with read_session(database(upgrade=True)) as session:
        for hit in search_terms(session, args.query, limit=args.limit):
            line = f"{hit.code}  {hit.term}  [{hit.soc}]"
            print(f"{line}  ({hit.why})" if hit.why else line)
    return 0
