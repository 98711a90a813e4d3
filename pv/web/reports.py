"""Incidence tables: a reports page (htmx picks the table and the cut-off) and the JSON API.

The page, the JSON and the CLI all render one `pv.analysis.build_table` call with the
same parameters. Tables are by arm: safety officers, DSMB members and admins see them;
investigators do not (site staff must not see comparative safety data during a trial).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from sqlmodel import Session, select
from starlette.background import BackgroundTask

from pv import inputs
from pv.analysis.aet05 import METHODS as CONF_TYPES
from pv.analysis.api import TABLE_NAMES, TABLES, TableError, build_table, pooled
from pv.analysis.render import display, to_csv
from pv.analysis.table import Table
from pv.auth.models import Role
from pv.blinding.policy import arms_refusal
from pv.exports.firewall import closed_session_allowed
from pv.i18n import LANGUAGES, normalize
from pv.i18n import gettext as _
from pv.study.models import Arm, Study
from pv.web.deps import DB, ApiAuth, Auth, WebAuth, engine, require
from pv.web.downloads import attachment
from pv.web.templating import render

router = APIRouter()
api_router = APIRouter(prefix="/api/v1", tags=["tables"])
READERS = (Role.officer, Role.dsmb, Role.admin)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LANG_HELP = "language of the table's texts: en (default) or zh-Hans; the data are not translated"
CONF_TYPE_HELP = (
    "AET05, AET05_ALL: the rate CI method, exact (default, Garwood), byar, normal or "
    "normal_log (tern's control_incidence_rate)"
)
CONF_LEVEL_HELP = "AET05, AET05_ALL: the confidence level of the rate and rate-ratio CIs (0.95)"


def rate_params(conf_type: str | None, conf_level: str | None) -> dict[str, str]:
    """The rate CI parameters asked for (checked by the table: 422 naming the parameter)."""
    given = {"conf_type": conf_type, "conf_level": conf_level}
    return {k: v.strip() for k, v in given.items() if v and v.strip()}


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return inputs.parse_date(value)
    except ValueError as exc:
        raise HTTPException(
            422, _("cutoff: '%(value)s' is not a date (YYYY-MM-DD)", value=value)
        ) from exc


def table_language(value: str | None) -> str:
    """The table language asked for (`lang`): English when not given, 422 when unknown.
    Independent of the interface language: boards and regulators read English."""
    if not value:
        return "en"
    found = normalize(value)
    if found is None:
        raise HTTPException(
            422,
            _(
                "lang: '%(value)s' is not a table language; choose one of %(choices)s",
                value=value,
                choices=", ".join(LANGUAGES),
            ),
        )
    return found


def one_table(request: Request, auth: Auth, session: Session, *, study: str, name: str,
              cutoff: str | None, control: str | None,
              lang: str | None = None, params: dict[str, str] | None = None) -> Table:  # fmt: skip
    """Check access, then the single analysis call behind every rendering."""
    require(auth, *READERS)
    language = table_language(lang)
    if session.get(Study, study) is None:
        raise HTTPException(404, _("no such study"))
    refused = arms_refusal(session, auth.user, study)
    try:
        table = build_table(engine(request), study, name.upper(),
                            control=None if refused else control or None,
                            cutoff=_parse_date(cutoff), language=language,
                            params=params or None)  # fmt: skip
    except TableError as exc:
        raise HTTPException(422, str(exc)) from exc
    if refused is None:
        return table
    # A blinded study and a reader without the unblinded permission: the table pooled
    # across arms (pv.analysis.api.pooled), refused when a row itself would name an arm.
    if (shown := pooled(table)) is None:
        raise HTTPException(403, refused)
    return shown


@router.get("/reports")
def reports(request: Request, auth: WebAuth, session: DB, study: str = "", table: str = "AET01",
            cutoff: str = "", control: str = "", lang: str = "", conf_type: str = "",
            conf_level: str = "") -> Response:  # fmt: skip
    require(auth, *READERS)
    language = table_language(lang)
    studies = list(session.exec(select(Study).order_by(Study.id)))
    if not studies:
        return render(request, "reports/page.html", {"auth": auth, "studies": []})
    study = study or studies[0].id
    blind = session.get(Study, study) is not None and (
        arms_refusal(session, auth.user, study) is not None
    )  # a blinded study: the tables pooled, no arm to compare with (pv.blinding)
    try:
        result = one_table(request, auth, session, study=study, name=table, cutoff=cutoff,
                           control=control, lang=language,
                           params=rate_params(conf_type, conf_level))  # fmt: skip
    except HTTPException as exc:
        if not blind or exc.status_code != 403:
            raise
        refused = {"auth": auth, "studies": studies, "study": study, "names": TABLE_NAMES,
                   "titles": {n: _(m.TITLE) for n, m in TABLES.items()}, "arms": [],
                   "f": {"table": table.upper(), "cutoff": cutoff, "control": "",
                         "lang": language, "conf_type": conf_type, "conf_level": conf_level},
                   "conf_types": CONF_TYPES,
                   "languages": LANGUAGES, "refused": exc.detail,
                   "dsmb_closed": closed_session_allowed(auth.user)}  # fmt: skip
        return render(request, "reports/page.html", refused, partial="reports/_refused.html")
    arms = (
        []
        if blind
        else list(session.exec(select(Arm).where(Arm.study_id == study).order_by(Arm.position)))
    )
    ctx: dict[str, Any] = {
        "auth": auth, "studies": studies, "study": study, "names": TABLE_NAMES,
        "titles": {n: _(m.TITLE) for n, m in TABLES.items()}, "arms": arms,
        "f": {"table": result.name, "cutoff": cutoff, "control": control, "lang": language,
              "conf_type": conf_type, "conf_level": conf_level},
        "languages": LANGUAGES, "conf_types": CONF_TYPES,
        "table": result, "shown": display(result),
        "dsmb_closed": closed_session_allowed(auth.user),
    }  # fmt: skip
    return render(request, "reports/page.html", ctx, partial="reports/_table.html")


@api_router.get("/tables/{name}", summary="A standard safety table as JSON")
def table_json(
    request: Request,
    auth: ApiAuth,
    session: DB,
    name: str,
    study: Annotated[str, Query(max_length=64)],
    cutoff: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD")] = None,
    control: Annotated[str | None, Query(max_length=200)] = None,
    lang: Annotated[str | None, Query(max_length=20, description=LANG_HELP)] = None,
    conf_type: Annotated[str | None, Query(max_length=20, description=CONF_TYPE_HELP)] = None,
    conf_level: Annotated[str | None, Query(max_length=20, description=CONF_LEVEL_HELP)] = None,
) -> dict[str, Any]:
    """`name` is one of AET01, AET01_AESI, AET02, AET02_SAE, AET04, AET05, AET05_ALL, AET10,
    DTHT01 and the other names of pvtracker tables. Safety officers, DSMB members and
    admins only (403 for investigators). `lang` (en, zh-Hans) is the language of titles,
    labels and footnotes; 422 for any other. `conf_type` and `conf_level`: the rate CIs of
    AET05 and AET05_ALL; 422 naming the parameter when not allowed."""
    result = one_table(request, auth, session, study=study, name=name, cutoff=cutoff,
                       control=control, lang=lang,
                       params=rate_params(conf_type, conf_level))  # fmt: skip
    return result.to_dict()  # JSONResponse: ensure_ascii=False, Chinese stays readable


@router.get("/reports/table.csv")
def table_csv(request: Request, auth: WebAuth, session: DB, study: str, table: str = "AET01",
              cutoff: str = "", control: str = "", lang: str = "", conf_type: str = "",
              conf_level: str = "") -> Response:  # fmt: skip
    """One table as long CSV, UTF-8 with a byte-order mark (so Excel reads Chinese)."""
    result = one_table(request, auth, session, study=study, name=table, cutoff=cutoff,
                       control=control, lang=lang,
                       params=rate_params(conf_type, conf_level))  # fmt: skip
    name = f"{result.study_id}-{result.name}{'-' + cutoff if cutoff else ''}-{result.language}.csv"
    return Response(
        to_csv([result], bom=True).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers=attachment(name),
    )


def _file_name(result: Table, cutoff: str, extension: str) -> str:
    dated = f"-{cutoff}" if cutoff else ""
    return f"{result.study_id}-{result.name}{dated}-{result.language}.{extension}"


@router.get("/reports/table.xlsx")
def table_xlsx(request: Request, auth: WebAuth, session: DB, study: str, table: str = "AET01",
               cutoff: str = "", control: str = "", lang: str = "", conf_type: str = "",
               conf_level: str = "") -> Response:  # fmt: skip
    """One table as an xlsx workbook (the DSMB workbook's table sheet), with the session's
    log-in: numbers as numbers, no formulas, texts in the table's language."""
    from pv.exports.table_book import write_table_book

    result = one_table(request, auth, session, study=study, name=table, cutoff=cutoff,
                       control=control, lang=lang,
                       params=rate_params(conf_type, conf_level))  # fmt: skip
    out = io.BytesIO()
    write_table_book(result, out)
    return Response(
        out.getvalue(), media_type=XLSX, headers=attachment(_file_name(result, cutoff, "xlsx"))
    )


@router.get("/reports/table.json")
def table_download_json(request: Request, auth: WebAuth, session: DB, study: str,
                        table: str = "AET01", cutoff: str = "", control: str = "",
                        lang: str = "", conf_type: str = "",
                        conf_level: str = "") -> Response:  # fmt: skip
    """One table as the API's JSON, with the session's log-in (no API token)."""
    result = one_table(request, auth, session, study=study, name=table, cutoff=cutoff,
                       control=control, lang=lang,
                       params=rate_params(conf_type, conf_level))  # fmt: skip
    body = json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str)
    return Response(body.encode("utf-8"), media_type="application/json; charset=utf-8",
                    headers=attachment(_file_name(result, cutoff, "json")))  # fmt: skip


@router.get("/reports/dsmb.xlsx")
def dsmb_workbook(request: Request, auth: WebAuth, session: DB, study: str, cutoff: str,
                  report: str = "", mask: bool = False,
                  lang: str = "") -> Response:  # fmt: skip
    """The DSMB workbook for a data cut-off: open (pooled) or closed (by arm, maskable).
    The DSMB firewall (pv.exports.firewall): the closed session only for DSMB members and
    unblinded users, whose default it is; everyone else gets the open session."""
    from pv.exports import firewall
    from pv.exports.workbook import build_dsmb_workbook

    require(auth, *READERS)
    language = table_language(lang)
    if session.get(Study, study) is None:
        raise HTTPException(404, _("no such study"))
    day = _parse_date(cutoff)
    report = report or firewall.default_session(auth.user)
    if day is None or report not in firewall.SESSIONS:
        raise HTTPException(422, _("give a cut-off date and a session: open or closed"))
    if report == firewall.CLOSED and not firewall.closed_session_allowed(auth.user):
        raise HTTPException(403, firewall.closed_refusal())
    # A blinded study: the closed session codes the arms (Arm A, B) for a DSMB member
    # without the unblinded permission (pv.blinding).
    coded = arms_refusal(session, auth.user, study) is not None
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        build_dsmb_workbook(engine(request), study_id=study, cutoff=day, session=report,
                            mask_arms=(mask or coded) and report == "closed", out=path,
                            language=language)  # fmt: skip
    except BaseException:
        os.unlink(path)
        raise
    masked = mask or (coded and report == "closed")
    suffix = ("-masked" if masked else "") + ("" if language == "en" else f"-{language}")
    name = f"{study}-dsmb-{report}{suffix}-{day.isoformat()}.xlsx"
    return FileResponse(path, filename=name, background=BackgroundTask(os.unlink, path),
                        media_type="application/vnd.openxmlformats-officedocument"
                        ".spreadsheetml.sheet")  # fmt: skip
