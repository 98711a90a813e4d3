"""Jinja2 templates: one per screen; htmx asks for the partial the page itself includes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pv import __version__, paths
from pv.events.models import CRITERIA_LABELS

templates = Jinja2Templates(directory=str(paths.TEMPLATES))
templates.env.globals.update(version=__version__, criteria_labels=CRITERIA_LABELS)
# Templates ship with the release: no stat() of every template file on every render.
templates.env.auto_reload = False


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    partial: str | None = None,
) -> HTMLResponse:
    """Render the page, or only `partial` when htmx asks for a fragment."""
    ctx = {"request": request, **(context or {})}
    auth = ctx.get("auth")
    if auth is not None:
        ctx.setdefault("csrf_token", auth.csrf_token)
        ctx.setdefault("user", auth.user)
    template = partial if partial and is_htmx(request) else name
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)
