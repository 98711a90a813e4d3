"""create_app(settings) -> FastAPI. The app keeps no state in the process but caches."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pv import __version__, i18n, paths
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

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        from pv.imports import jobs

        jobs.shutdown()  # a running upload finishes first; queued ones are marked failed

    app = FastAPI(
        lifespan=lifespan,
        title="pv-tracker",
        version=__version__,
        description="Adverse-event pharmacovigilance tracker. The JSON API lives under "
        "/api/v1 and takes a personal token: `Authorization: Bearer <token>`.",
        docs_url=None,  # our own page below: Swagger UI served from /vendor, under the CSP
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
    from pv.web import notifications  # also the header's unread count

    app.include_router(notifications.router)
    from pv.blinding import web as blinding_web  # the subject page and unblinding

    app.include_router(blinding_web.router)
    from pv.web import account  # the user's own account page: API tokens

    app.include_router(account.router)
    from pv.web import api_case, dsur  # SAE case data in the API; DSUR listings (issue 16)

    app.include_router(api_case.router)
    app.include_router(dsur.router)
    app.mount("/static", StaticFiles(directory=paths.STATIC), name="static")
    install_api_docs(app)  # before /vendor: its files are under /vendor/swagger-ui/
    app.mount("/vendor", StaticFiles(directory=paths.VENDOR), name="vendor")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:  # browsers ask for it at the root, signed in or not
        return FileResponse(paths.STATIC / "favicon.ico", media_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    app.add_middleware(BodyLimit, upload_limit=settings.upload_max_bytes,
                       other_limit=settings.max_body_bytes)  # fmt: skip
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Language, default=settings.default_language)
    return app


# Swagger UI (npm package swagger-ui-dist, pinned in package-lock.json) is served by the app
# itself, like htmx: no CDN, so /api/docs works offline and under the CSP above (its start-up
# code is the file /static/api-docs.js, not an inline script).
SWAGGER_UI_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
API_PREFIX = "/api/"


def install_api_docs(app: FastAPI) -> None:
    """/api/docs (Swagger UI), its two vendor files, and an OpenAPI document
    (/openapi.json) that holds the JSON API only: every route under /api/, none of the
    HTML pages, forms and downloads (as if each had include_in_schema=False; a filter here
    also keeps out pages added later)."""
    from fastapi import HTTPException

    @app.get("/vendor/swagger-ui/{name}", include_in_schema=False)
    def swagger_ui_file(name: str) -> FileResponse:
        if name not in SWAGGER_UI_FILES:
            raise HTTPException(404, "not found")
        return FileResponse(paths.SWAGGER_UI / name, media_type=SWAGGER_UI_FILES[name],
                            headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        from pv.web.templating import templates

        context = {"openapi_url": app.openapi_url}
        return templates.TemplateResponse(request, "api_docs.html", context)

    made: dict[str, dict[str, Any]] = {}

    def api_only_openapi() -> dict[str, Any]:
        full = FastAPI.openapi(app)  # FastAPI's own, remade when the routes change
        if full is not made.get("doc"):
            made["doc"] = app.openapi_schema = api_only(full)
        return made["doc"]

    app.openapi = api_only_openapi  # type: ignore[method-assign]


def api_only(doc: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI document reduced to the paths under /api/ and the schemas they use."""
    out = dict(doc)
    out["paths"] = {p: v for p, v in doc.get("paths", {}).items() if p.startswith(API_PREFIX)}
    components = dict(doc.get("components", {}))
    schemas = components.get("schemas", {})
    used: set[str] = set()
    todo: list[Any] = [out["paths"]]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in used and name in schemas:
                    used.add(name)
                    todo.append(schemas[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    if "schemas" in components:
        components["schemas"] = {k: v for k, v in schemas.items() if k in used}
        out["components"] = components
    return out


class Language:
    """The language of a request, before anything else runs: the switch's cookie (a choice
    made before logging in), then the browser's Accept-Language, then the configured
    default. The sign-in dependencies then put the user's own setting first, and fall back
    to their study's default where neither cookie nor header named a language
    (pv.web.deps.apply_language). Responses say which language they are in."""

    def __init__(self, app: ASGIApp, *, default: str) -> None:
        self.app = app
        self.default = i18n.normalize(default) or i18n.DEFAULT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = None
        cookie = accept = None
        for key, value in scope.get("headers", ()):
            if key == b"cookie":
                cookie = value.decode("latin-1")
            elif key == b"accept-language":
                accept = value.decode("latin-1")
        if cookie:
            for part in cookie.split(";"):
                name, _, val = part.strip().partition("=")
                if name == i18n.LANGUAGE_COOKIE:
                    chosen = i18n.normalize(val)
        chosen = chosen or i18n.from_accept_language(accept)
        token = i18n.begin(chosen or self.default, chosen=chosen is not None)

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Language"] = i18n.current()
                headers.append("Vary", "Accept-Language, Cookie")
            await send(message)

        try:
            await self.app(scope, receive, send_with_language)
        finally:
            i18n.end(token)


# Room for the multipart envelope around an uploaded file (boundaries, headers, the
# CSRF token and study fields): the file itself is checked against the limit exactly.
MULTIPART_SLACK = 64 * 1024
UPLOAD_PATH = "/upload"


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Request bodies are limited while they stream in, before anything is parsed or
    spooled to disk: a declared Content-Length over the limit is refused at once (413,
    with the real size), and a body without one is counted and cut off at the limit.

    The upload route's limit is the upload size limit plus the multipart envelope; every
    other route takes at most `other_limit` bytes (forms and JSON bodies are small)."""

    def __init__(self, app: ASGIApp, *, upload_limit: int, other_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.other_limit = other_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        is_upload = scope["path"] == UPLOAD_PATH
        file_limit = self.upload_limit if is_upload else self.other_limit
        limit = file_limit + (MULTIPART_SLACK if is_upload else 0)
        declared = None
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        if declared is not None and declared > limit:
            await _too_large(scope, send, declared, file_limit, exact=True)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, send_tracked)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(scope, send, seen, file_limit, exact=False)


async def _too_large(scope: Scope, send: Send, size: int, limit: int, *, exact: bool) -> None:
    """413 in the form the client reads: the upload's result fragment, JSON for the API."""
    from pv.web.uploads import file_too_large

    reason = file_too_large(size, limit, exact=exact)
    path = scope["path"]
    if path.startswith("/api/"):
        detail = i18n.gettext("the request body is too large: %(reason)s", reason=reason)
        body = json.dumps({"detail": detail}).encode()
        ctype = b"application/json"
    else:
        what = (i18n.gettext("The file was refused:") if path == UPLOAD_PATH
                else i18n.gettext("The request was refused:"))  # fmt: skip
        text = i18n.gettext("%(reason)s. Nothing was stored.", reason=reason)
        body = (f'<div id="upload-result" role="status" aria-live="polite"><p class="error" '
                f'data-testid="upload-refused"><strong>{html.escape(what)}</strong> '
                f"{html.escape(text)}</p></div>").encode()  # fmt: skip
        ctype = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


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
