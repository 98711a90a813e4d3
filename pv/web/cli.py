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
    serve.add_argument(
        "--access-log", action=argparse.BooleanOptionalAction, default=None,
        help=_("log one line per request (default: PV_ACCESS_LOG, off: a proxy in front logs "
               "them)"),
    )  # fmt: skip
    serve.set_defaults(func=_serve)


def server_options(access_log: bool | None = None) -> dict[str, object]:
    """uvicorn's logging options from the settings: PV_LOG_LEVEL, and the access log
    (PV_ACCESS_LOG unless `access_log` says otherwise)."""
    from pv.settings import get_settings

    settings = get_settings()
    return {
        "log_level": settings.log_level.lower(),
        "access_log": settings.access_log if access_log is None else access_log,
    }


def run_server(host: str, port: int, workers: int = 1, access_log: bool | None = None) -> None:
    import uvicorn

    uvicorn.run(
        "pv.web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        **server_options(access_log),  # type: ignore[arg-type]
    )


def _serve(args: argparse.Namespace) -> int:
    from pv.cli import database

    database(upgrade=True)
    run_server(args.host, args.port, args.workers, access_log=args.access_log)
    return 0
