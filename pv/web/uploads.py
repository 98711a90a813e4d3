"""Spreadsheet upload of adverse events: template download, upload, error report."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response
from sqlmodel import Session, select

from pv.auth.models import Role
from pv.db import read_session
from pv.imports.spreadsheet import error_report_csv, import_upload, template_for_study
from pv.study.models import Site, Study, Subject
from pv.web.deps import DB, Auth, WebAuth, engine, require
from pv.web.templating import render

router = APIRouter()
SHOWN_ERRORS = 200
UPLOADERS = (Role.investigator, Role.admin)


def _studies(session: Session, auth: Auth) -> list[Study]:
    q = select(Study).order_by(Study.id)
    if auth.sites is not None:
        ids = select(Site.study_id).where(Site.id.in_(auth.sites))  # type: ignore[union-attr]
        q = q.where(Study.id.in_(ids))  # type: ignore[attr-defined]
    return list(session.exec(q))


def _study_or_404(session: Session, auth: Auth, study_id: str) -> Study:
    for study in _studies(session, auth):
        if study.id == study_id:
            return study
    raise HTTPException(404, "no such study")


@router.get("/upload")
def upload_page(request: Request, auth: WebAuth, session: DB) -> Response:
    require(auth, *UPLOADERS)
    return render(request, "uploads/page.html", {"auth": auth, "studies": _studies(session, auth)})


@router.get("/upload/template/{study_id}.xlsx")
def template(request: Request, auth: WebAuth, session: DB, study_id: str) -> Response:
    """The xlsx template, with the user's own subjects offered in the USUBJID dropdown."""
    require(auth, *UPLOADERS)
    study = _study_or_404(session, auth, study_id)
    q = select(Subject.usubjid).where(Subject.study_id == study.id).order_by(Subject.usubjid)
    if auth.sites is not None:
        q = q.where(Subject.site_id.in_(auth.sites))  # type: ignore[attr-defined]
    data = template_for_study(session, study.id, subjects=list(session.exec(q)))
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{study.id}-ae-template.xlsx"'},
    )


@router.post("/upload")
async def upload(
    request: Request,
    auth: WebAuth,
    study_id: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
) -> Response:
    require(auth, *UPLOADERS)
    settings = request.app.state.settings
    # Read at most one byte past the limit: a larger file is refused without reading it all.
    data = await file.read(settings.upload_max_bytes + 1)

    with read_session(engine(request)) as session:
        study = _study_or_404(session, auth, study_id)
        studies = _studies(session, auth)
    result = import_upload(
        engine=engine(request),
        actor=auth.actor,
        study_id=study.id,
        site_ids=auth.sites,
        filename=file.filename or "",
        data=data,
        settings=settings,
    )
    report = None
    if result.errors:
        report = base64.b64encode(error_report_csv(result.errors)).decode("ascii")
    status = 201 if result.stored else 422
    return render(
        request,
        "uploads/page.html",
        {
            "auth": auth,
            "studies": studies,
            "result": result,
            "shown": result.errors[:SHOWN_ERRORS],
            "report": report,
            "study_id": study.id,
        },
        status_code=status,
        partial="uploads/_result.html",
    )
