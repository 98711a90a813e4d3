"""Incidence tables: a reports page (htmx picks the table and the cut-off) and the JSON API.

The page, the JSON and the CLI all render one `pv.analysis.build_table` call with the
same parameters. Tables are by arm: safety officers, DSMB members and admins see them;
investigators do not (site staff must not see comparative safety data during a trial).
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from sqlmodel import Session, select
from starlette.background import BackgroundTask

from pv import inputs
from pv.analysis.api import TABLE_NAMES, TABLES, TableError, build_table
from pv.analysis.render import display
from pv.analysis.table import Table
from pv.auth.models import Role
from pv.study.models import Arm, Study
from pv.web.deps import DB, ApiAuth, Auth, WebAuth, engine, require
from pv.web.templating import render

router = APIRouter()
api_router = APIRouter(prefix="/api/v1", tags=["tables"])
READERS = (Role.officer, Role.dsmb, Role.admin)


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return inputs.parse_date(value)
    except ValueError as exc:
        raise HTTPException(422, f"cutoff: '{value}' is not a date (YYYY-MM-DD)") from exc


def one_table(request: Request, auth: Auth, session: Session, *, study: str, name: str,
              cutoff: str | None, control: str | None) -> Table:  # fmt: skip
    """Check access, then the single analysis call behind every rendering."""
    require(auth, *READERS)
    if session.get(Study, study) is None:
        raise HTTPException(404, "no such study")
    try:
        return build_table(engine(request), study, name.upper(), control=control or None,
                           cutoff=_parse_date(cutoff))  # fmt: skip
    except TableError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/reports")
def reports(request: Request, auth: WebAuth, session: DB, study: str = "", table: str = "AET01",
            cutoff: str = "", control: str = "") -> Response:  # fmt: skip
    require(auth, *READERS)
    studies = list(session.exec(select(Study).order_by(Study.id)))
    if not studies:
        return render(request, "reports/page.html", {"auth": auth, "studies": []})
    study = study or studies[0].id
    result = one_table(request, auth, session, study=study, name=table, cutoff=cutoff,
                       control=control)  # fmt: skip
    arms = list(session.exec(select(Arm).where(Arm.study_id == study).order_by(Arm.position)))
    ctx: dict[str, Any] = {
        "auth": auth, "studies": studies, "study": study, "names": TABLE_NAMES,
        "titles": {n: m.TITLE for n, m in TABLES.items()}, "arms": arms,
        "f": {"table": result.name, "cutoff": cutoff, "control": control},
        "table": result, "shown": display(result),
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
) -> dict[str, Any]:
    """`name` is one of AET01, AET01_AESI, AET02, AET02_SAE, AET04, AET05, AET10, DTHT01.
    Safety officers, DSMB members and admins only (403 for investigators)."""
    result = one_table(request, auth, session, study=study, name=name, cutoff=cutoff,
                       control=control)  # fmt: skip
    return result.to_dict()


@router.get("/reports/dsmb.xlsx")
def dsmb_workbook(request: Request, auth: WebAuth, session: DB, study: str, cutoff: str,
                  report: str = "closed", mask: bool = False) -> Response:  # fmt: skip
    """The DSMB workbook for a data cut-off: open (pooled) or closed (by arm, maskable)."""
    from pv.exports.workbook import build_dsmb_workbook

    require(auth, *READERS)
    if session.get(Study, study) is None:
        raise HTTPException(404, "no such study")
    day = _parse_date(cutoff)
    if day is None or report not in ("open", "closed"):
        raise HTTPException(422, "give a cut-off date and a session: open or closed")
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        build_dsmb_workbook(engine(request), study_id=study, cutoff=day, session=report,
                            mask_arms=mask and report == "closed", out=path)  # fmt: skip
    except BaseException:
        os.unlink(path)
        raise
    name = f"{study}-dsmb-{report}{'-masked' if mask else ''}-{day.isoformat()}.xlsx"
    return FileResponse(path, filename=name, background=BackgroundTask(os.unlink, path),
                        media_type="application/vnd.openxmlformats-officedocument"
                        ".spreadsheetml.sheet")  # fmt: skip
