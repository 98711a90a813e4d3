"""The `pvtracker` command line. Commands call services, never web routes.

Each domain contributes its commands through a `register(subparsers)` function in
its own `cli.py`; this module only assembles them and runs the chosen one.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Modules that define `register(subparsers)`. Keep the list sorted by domain.
COMMAND_MODULES = (
    "pv.study.cli",
    "pv.terminology.cli",
    "pv.demo.cli",
    "pv.web.cli",
    "pv.auth.cli",
    "pv.analysis.cli",
    "pv.imports.cli",
    "pv.exports.cli",
    "pv.review.cli",
    "pv.ops.cli",
)


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pvtracker", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a domain not built yet
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        result = args.func(args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


def database(*, upgrade: bool = False):  # type: ignore[no-untyped-def]
    """The engine for PV_DATABASE_URL, migrated to the latest schema when asked."""
    from pv.db import get_engine
    from pv.migrate import upgrade as run_upgrade

    engine = get_engine()
    if upgrade:
        run_upgrade(engine)
    return engine
