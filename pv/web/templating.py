"""Jinja2 templates: one per screen; htmx asks for the partial the page itself includes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pv import __version__, i18n, labels, paths
from pv.events.models import CRITERIA_LABELS
from pv.web.history_view import changes as history_changes

templates = Jinja2Templates(directory=str(paths.TEMPLATES))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.globals.update(
    app_version=__version__,
    criteria_labels=CRITERIA_LABELS,
    languages=i18n.LANGUAGES,
    current_language=i18n.current,
    label=labels.label,
    labels_of=labels.labels_of,
    history_changes=history_changes,
    label_choices=labels.choices,
)


def _gettext(message: str) -> str:
    return i18n.translations(i18n.current()).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.translations(i18n.current()).ngettext(singular, plural, n)


def _pgettext(context: str, message: str) -> str:
    return i18n.translations(i18n.current()).pgettext(context, message)


# New-style gettext: `{{ _("Saved %(n)s", n=3) }}` fills placeholders after translation
# and escapes them; `{% trans %}` blocks and `{% pluralize %}` use the catalog's plural rule.
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=_gettext, ngettext=_ngettext, pgettext=_pgettext, newstyle=True
)
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
