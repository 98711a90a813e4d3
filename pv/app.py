"""create_app(settings) -> FastAPI. The app keeps no state in the process but caches."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pv import __version__, paths
from pv.db import get_engine
from pv.settings import Settings, get_settings

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="pv-tracker",
        version=__version__,
        description="Adverse-event pharmacovigilance tracker. The JSON API lives under "
        "/api/v1 and takes a personal token: `Authorization: Bearer <token>`.",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.database_url)

    from pv.web import (
        api,
        errors,
        events_pages,
        pages,
        reports,
        review,
        subjects,
        terms,
        uploads,
    )

    errors.install(app)
    for module in (pages, subjects, events_pages, terms, uploads, reports, review, api):
        app.include_router(module.router)
    app.include_router(reports.api_router)
    app.mount("/static", StaticFiles(directory=paths.STATIC), name="static")
    app.mount("/vendor", StaticFiles(directory=paths.VENDOR), name="vendor")

    app.add_middleware(SecurityHeaders)
    return app


class SecurityHeaders:
    """Security headers on every response; the CSP on HTML ones.

    A plain ASGI middleware: it edits the response start message and passes the body
    through untouched (BaseHTTPMiddleware would copy every response through a stream).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
