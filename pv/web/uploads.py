"""Spreadsheet upload of adverse events: template download, upload jobs with live progress,
cancel, and the error report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlmodel import Session, select

from pv import i18n
from pv.auth.models import Role
from pv.db import read_session
from pv.imports import jobs
from pv.imports.job_models import UploadJob
from pv.imports.spreadsheet import UploadResult, template_for_study
from pv.study.models import Site, Study, Subject
from pv.web.deps import DB, Auth, WebAuth, engine, require
from pv.web.downloads import attachment
from pv.web.templating import is_htmx, render

router = APIRouter()
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
    raise HTTPException(404, i18n.gettext("no such study"))


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
        headers=attachment(f"{study.id}-ae-template.xlsx"),
    )


@router.post("/upload")
async def upload(
    request: Request,
    auth: WebAuth,
    study_id: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
) -> Response:
    """Accept the file and start a job (202); the result area then polls the job.

    The body's size is limited while it streams in (`BodyLimit`); refusals that need no
    reading of the file (study, size) answer 422 with the result fragment in place."""
    require(auth, *UPLOADERS)
    settings = request.app.state.settings
    eng = engine(request)
    # Read at most one byte past the limit: a larger file is refused without reading it all.
    data = await file.read(settings.upload_max_bytes + 1)
    filename = file.filename or ""
    with read_session(eng) as session:
        study = _study_or_404(session, auth, study_id)
    if len(data) > settings.upload_max_bytes:
        return _refused(
            request,
            auth,
            study.id,
            filename,
            file_too_large(len(data), settings.upload_max_bytes, exact=False),
        )
    job_id = jobs.new_job(engine=eng, actor=auth.actor, study_id=study.id, filename=filename,
                          size=len(data))  # fmt: skip
    spec = jobs.JobSpec(
        job_id=job_id,
        database_url=eng.url.render_as_string(hide_password=False),
        actor=auth.actor,
        study_id=study.id,
        site_ids=frozenset(auth.sites) if auth.sites is not None else None,
        filename=filename,
        data=data,
        settings=settings,
        language=i18n.current(),
    )
    jobs.submit(spec, eng, settings.upload_worker)
    job = jobs.get_job(eng, job_id)
    return _job_response(request, auth, job, status_code=202)  # type: ignore[arg-type]


def file_too_large(size: int, limit: int, *, exact: bool = True) -> str:
    """The refusal of a file over the limit, with its real size when known."""
    if exact:
        return i18n.gettext(
            "the file is %(size)s; at most %(max)s may be uploaded",
            size=_size(size),
            max=_size(limit),
        )
    return i18n.gettext(
        "the file is larger than %(max)s; at most %(max)s may be uploaded", max=_size(limit)
    )


def _size(n: int) -> str:
    """Bytes for people: 20 MB exactly, 20.4 MB, 1.2 KB (binary units, as the limits are)."""
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return i18n.ngettext("%(num)d byte", "%(num)d bytes", n)


def _refused(request: Request, auth: Auth, study_id: str, filename: str, reason: str) -> Response:
    with read_session(engine(request)) as session:
        studies = _studies(session, auth)
    result = UploadResult(filename=filename, refused=reason)
    return render(request, "uploads/page.html",
                  {"auth": auth, "studies": studies, "result": result, "study_id": study_id},
                  status_code=422, partial="uploads/_result.html")  # fmt: skip


def _job_or_404(request: Request, auth: Auth, job_id: str) -> UploadJob:
    """The user's own job (an admin may see any); another's is indistinguishable from none."""
    job = jobs.get_job(engine(request), job_id) if len(job_id) <= 32 else None
    if job is None or (job.user_id != auth.user.id and auth.role != Role.admin):
        raise HTTPException(404, i18n.gettext("no such upload"))
    return job


def _job_json(job: UploadJob) -> dict[str, Any]:
    keys = ("rows_total", "rows_read", "rows_checked", "rows_stored", "stored", "error_count",
            "warning_count", "refused", "filename", "study_id", "size")  # fmt: skip
    out: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "finished": jobs.is_finished(job),
        "stalled": jobs.is_stalled(job),
    }
    out.update({k: getattr(job, k) for k in keys})
    names = ("row", "column", "value", "reason")
    out["errors"] = [dict(zip(names, e, strict=True)) for e in job.errors_shown]
    out["warnings"] = [dict(zip(names, w, strict=True)) for w in job.warnings_shown]
    out["report"] = f"/upload/jobs/{job.id}/errors.csv" if job.error_count else None
    return out


def _job_response(request: Request, auth: Auth, job: UploadJob, *, status_code: int = 200
                  ) -> Response:  # fmt: skip
    headers = {"Location": f"/upload/jobs/{job.id}"}
    if "application/json" in request.headers.get("accept", "") and not is_htmx(request):
        return JSONResponse(_job_json(job), status_code=status_code, headers=headers)
    ctx: dict[str, Any] = {"auth": auth, "job": job, "finished": jobs.is_finished(job),
                           "stalled": jobs.is_stalled(job)}  # fmt: skip
    if not is_htmx(request):
        with read_session(engine(request)) as session:
            ctx["studies"] = _studies(session, auth)
        ctx["study_id"] = job.study_id
    response = render(request, "uploads/page.html", ctx, status_code=status_code,
                      partial="uploads/_job.html")  # fmt: skip
    response.headers.update(headers)
    return response


@router.get("/upload/jobs/{job_id}")
def upload_job(request: Request, auth: WebAuth, job_id: str) -> Response:
    """The job's progress or result: the result fragment (htmx), the page, or JSON."""
    require(auth, *UPLOADERS)
    return _job_response(request, auth, _job_or_404(request, auth, job_id))


@router.post("/upload/jobs/{job_id}/cancel")
def cancel_upload(request: Request, auth: WebAuth, job_id: str) -> Response:
    require(auth, *UPLOADERS)
    job = _job_or_404(request, auth, job_id)
    if not jobs.is_finished(job):
        jobs.request_cancel(engine(request), job.id)
        job = _job_or_404(request, auth, job_id)
    return _job_response(request, auth, job)


@router.get("/upload/jobs/{job_id}/errors.csv")
def upload_errors(request: Request, auth: WebAuth, job_id: str) -> Response:
    """The whole error report (row, column, value, reason), streamed as UTF-8 CSV."""
    require(auth, *UPLOADERS)
    job = _job_or_404(request, auth, job_id)
    report = jobs.error_report(engine(request), job.id)
    if report is None:
        raise HTTPException(404, i18n.gettext("this upload has no error report"))
    stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in job.filename)[:80] or "upload"
    return StreamingResponse(
        report,
        media_type="text/csv; charset=utf-8",
        headers=attachment(f"{stem}-errors.csv"),
    )
