"""The DSUR line listings (ICH E2F) as a download from the reports page.

- `GET /reports/dsur.xlsx?study=&from=&to=&lang=`: the workbook (pv.exports.dsur). A DSUR
  is the sponsor's document: safety officers and admins only (403 for investigators and
  DSMB members, whose closed-session data are the DSMB's, not the sponsor's). A blinded
  study's arms are pooled unless the reader has the unblinded permission (pv.blinding).
  422 naming the field for a missing or malformed date, a period that ends before it
  starts, or an unknown language; 404 for an unknown study.
- `GET /reports/dsur?...`: what the reports page's DSUR form asks with htmx: the same
  checks, answered with the form itself, each refusal beside its field (422: the page's
  htmx swaps 422 answers), or, when all is well, the form without refusals, with the
  download link and a loader (hx-trigger "load", `go=1`) answered 204 with `HX-Redirect`
  to the file, so the browser downloads it at once and the page keeps the cleared form
  (an `HX-Redirect` on the first answer would skip the swap and leave old refusals).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import col, select

from pv import inputs
from pv.auth.models import Role
from pv.blinding.policy import arms_refusal
from pv.i18n import LANGUAGES, normalize
from pv.i18n import gettext as _
from pv.study.models import Study
from pv.web.deps import DB, WebAuth, require
from pv.web.downloads import attachment
from pv.web.templating import render

router = APIRouter()
DSUR_READERS = (Role.officer, Role.admin)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def check(
    session: Any, study: str, start: str, end: str, lang: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The parameters as values, and the refusals by field ("study", "from", "to", "lang")."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if not study or session.get(Study, study) is None:
        errors["study"] = _("no such study")
    for name, text in (("from", start), ("to", end)):
        if not text.strip():
            errors[name] = _("give a date (YYYY-MM-DD)")
            continue
        try:
            values[name] = inputs.parse_date(text)
        except ValueError as exc:
            errors[name] = str(exc)
    if "from" in values and "to" in values and values["from"] > values["to"]:
        errors["to"] = _(
            "the end of the reporting period (%(end)s) is before its start (%(start)s)",
            end=values["to"].isoformat(),
            start=values["from"].isoformat(),
        )
    found = normalize(lang) if lang else "en"
    if found is None:
        errors["lang"] = _(
            "'%(value)s' is not a workbook language; choose one of %(choices)s",
            value=lang,
            choices=", ".join(LANGUAGES),
        )
    values["lang"] = found or "en"
    return values, errors


def _file_name(study: str, start: date, end: date, masked: bool, language: str) -> str:
    suffix = ("-blinded" if masked else "") + ("" if language == "en" else f"-{language}")
    return f"{study}-dsur-{start.isoformat()}-{end.isoformat()}{suffix}.xlsx"


@router.get("/reports/dsur.xlsx")
def dsur_workbook(request: Request, auth: WebAuth, session: DB, study: str = "",
                  lang: str = "") -> Response:  # fmt: skip
    """The DSUR workbook (`from` and `to` are query parameters: Python keywords)."""
    from pv.exports.dsur import build_dsur

    require(auth, *DSUR_READERS)
    params = request.query_params
    values, errors = check(session, study, params.get("from", ""), params.get("to", ""), lang)
    if "study" in errors:
        raise HTTPException(404, errors["study"])
    if errors:
        raise HTTPException(422, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    masked = arms_refusal(session, auth.user, study) is not None
    data = build_dsur(session, study, values["from"], values["to"], masked=masked,
                      language=values["lang"])  # fmt: skip
    name = _file_name(study, values["from"], values["to"], masked, values["lang"])
    return Response(data, media_type=XLSX, headers=attachment(name))


@router.get("/reports/dsur")
def dsur_form(request: Request, auth: WebAuth, session: DB, study: str = "",
              lang: str = "") -> Response:  # fmt: skip
    """The reports page's DSUR form, checked (refusals beside the fields, 422) or ready
    (the download link, and HX-Redirect to it)."""
    require(auth, *DSUR_READERS)
    params = request.query_params
    start, end = params.get("from", ""), params.get("to", "")
    values, errors = check(session, study, start, end, lang)
    form: dict[str, Any] = {"from": start, "to": end, "lang": values["lang"], "errors": errors}
    if not errors:
        query = urlencode({"study": study, "from": values["from"].isoformat(),
                           "to": values["to"].isoformat(), "lang": values["lang"]})  # fmt: skip
        form["ready"] = f"/reports/dsur.xlsx?{query}"
        if params.get("go"):  # the swapped form's loader: the browser downloads the file
            return Response(status_code=204, headers={"HX-Redirect": form["ready"]})
        form["go"] = f"/reports/dsur?{query}&go=1"
    studies = list(session.exec(select(Study).order_by(col(Study.id))))
    ctx = {"auth": auth, "study": study, "studies": studies, "dsur": form, "languages": LANGUAGES}
    return render(request, "reports/_dsur_form.html", ctx,
                  status_code=422 if errors else 200)  # fmt: skip
