"""create_app(settings) -> FastAPI. The app keeps no state in the process but caches."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

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

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
