"""Error pages and JSON errors: clear messages, never a stack trace, SQL or path."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pv.i18n import N_
from pv.i18n import gettext as _
from pv.web.deps import LoginRequired
from pv.web.templating import is_htmx, templates

log = logging.getLogger(__name__)


# Starlette's own details (its HTTP reason phrases: a route that does not exist, a method
# a route does not take), translated where they are shown.
_PHRASES = {
    "Not Found": N_("Not Found"),
    "Method Not Allowed": N_("Method Not Allowed"),
    "Bad Request": N_("Bad Request"),
    "Unauthorized": N_("Unauthorized"),
    "Forbidden": N_("Forbidden"),
}


def _detail(detail: object) -> object:
    return _(_PHRASES[detail]) if isinstance(detail, str) and detail in _PHRASES else detail


# pydantic's validation messages by error type, in the reader's language (placeholders from
# the error's ctx). English keeps pydantic's own wording; a type not listed keeps its
# message as pydantic wrote it.
_PYDANTIC = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "string_type": N_("Input should be a valid string"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be a valid dictionary or instance of %(class_name)s"),
    "model_attributes_type": N_(
        "Input should be a valid dictionary or object to extract fields from"
    ),
    "list_type": N_("Input should be a valid list"),
    "date_type": N_("Input should be a valid date"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, %(error)s"),
    "date_from_datetime_parsing": N_("Input should be a valid date or datetime, %(error)s"),
    "literal_error": N_("Input should be %(expected)s"),
    "enum": N_("Input should be %(expected)s"),
    "greater_than_equal": N_("Input should be greater than or equal to %(ge)s"),
    "less_than_equal": N_("Input should be less than or equal to %(le)s"),
    "greater_than": N_("Input should be greater than %(gt)s"),
    "less_than": N_("Input should be less than %(lt)s"),
    "string_too_short": N_("String should have at least %(min_length)s characters"),
    "string_too_long": N_("String should have at most %(max_length)s characters"),
    "too_short": N_("List should have at least %(min_length)s items"),
    "too_long": N_("List should have at most %(max_length)s items"),
    "string_pattern_mismatch": N_("String should match pattern '%(pattern)s'"),
}


def _pydantic_message(err: dict) -> str:  # type: ignore[type-arg]
    text = _PYDANTIC.get(str(err.get("type")))
    if text is None:
        return str(err.get("msg", "invalid"))
    ctx = {k: str(v) for k, v in (err.get("ctx") or {}).items()}
    try:
        return _(text, **ctx) if "%(" in text else _(text)
    except (KeyError, ValueError):  # a context this pydantic version does not give
        return str(err.get("msg", "invalid"))


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            out.append({"field": "(body)", "message": _("the body is not valid JSON")})
            continue
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        message = _pydantic_message(err)
        if err.get("type") == "value_error" and "error" in (err.get("ctx") or {}):
            # A shared input rule (pv.inputs) refused it: its own message, without
            # pydantic's "Value error, " prefix, as the forms and the CLI show it.
            message = str(err["ctx"]["error"])
        out.append({"field": ".".join(loc) or "(body)", "message": message})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = "/login?next=" + quote(request.url.path)
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.method != "GET":
            return Response(_("log in first"), status_code=401)
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path == "/openapi.json":
            return JSONResponse(
                {"detail": _detail(exc.detail)},
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        return templates.TemplateResponse(
            request,
            "error.html",
            {"request": request, "status": exc.status_code, "message": _detail(exc.detail)},
            status_code=exc.status_code,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = validation_errors(exc)
        if _is_api(request):
            return JSONResponse({"errors": errors}, status_code=422)
        if exc.errors() and all(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
            # A page's path with an id that cannot exist (not a number, 0, 2^31 or more):
            # no such page, as for an id that does not exist.
            return templates.TemplateResponse(
                request,
                "error.html",
                {"request": request, "status": 404, "message": _("no such page")},
                status_code=404,
            )
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"request": request, "status": 422, "message": message},
            status_code=422,
        )

    @app.exception_handler(DataError)
    async def _bad_value(request: Request, exc: DataError) -> Response:
        # A value the database refuses to store or compare: a NUL character in a query or
        # path parameter (PostgreSQL text cannot hold one), a number out of a column's range.
        # The request's fault, not the server's: 422, and nothing of the SQL in the answer.
        log.info("refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
        message = _(
            "a value in the request cannot be stored or searched "
            "(a NUL character, or a number out of range)"
        )
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=422)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"request": request, "status": 422, "message": message},
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if _is_api(request):
            return JSONResponse({"detail": _("internal error")}, status_code=500)
        return Response(
            _("Something went wrong; the error was logged."),
            status_code=500,
            media_type="text/plain",
        )
