"""Command: serve (upgrades the database first)."""

from __future__ import annotations

import argparse

from pv.i18n import gettext as _


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help=_("run the web app (PV_DATABASE_URL selects the database)")
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)


def run_server(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    uvicorn.run(
        "pv.web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )


def _serve(args: argparse.Namespace) -> int:
    from pv.cli import database

    database(upgrade=True)
    run_server(args.host, args.port, args.workers)
    return 0
