"""Safety charts as PNG images drawn by the server (pv.charts), and a page showing them.

Study charts compare arms: safety officers, DSMB members and admins. A subject's charts
(timeline, cumulative prednisone) are patient-level: officers and admins, and the
investigators of the subject's site; another site's subject is a 404. Images are never
cached (Cache-Control: no-store): they show unblinded, changing data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import Session, select

from pv.auth.models import Role
from pv.blinding.policy import NO_TIMELINE, arms_visible
from pv.charts import (
    CHARTS,
    STUDY_CHARTS,
    ChartError,
    NotFound,
    chart_aesi_forest,
    chart_cumulative_prednisone,
    chart_km_infection,
    chart_reporting_rate_by_site,
    chart_subject_timeline,
)
from pv.i18n import gettext as _
from pv.study.models import Study, Subject
from pv.web.deps import DB, PathId, WebAuth, engine, require, subject_or_404
from pv.web.review_common import CHART_READERS, pick_study, query_date
from pv.web.templating import render

router = APIRouter()
STUDY: dict[str, Callable[..., bytes]] = {
    "aesi_forest": chart_aesi_forest,
    "km_infection": chart_km_infection,
    "cumulative_prednisone": chart_cumulative_prednisone,
    "reporting_rate_by_site": chart_reporting_rate_by_site,
}
SUBJECT_KINDS = ("timeline", "prednisone")
SUBJECT_READERS = (Role.investigator, Role.officer, Role.admin)
# Drawing is CPU-bound under the GIL anyway; one at a time keeps matplotlib's shared
# state (font cache, text layout) out of any thread race.
_draw = threading.Lock()


def _pooled(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


def _png(draw: Callable[[], bytes]) -> Response:
    try:
        with _draw:
            image = draw()
    except ChartError as exc:
        raise HTTPException(422, str(exc)) from exc
    except NotFound as exc:
        raise HTTPException(404, _("no such subject")) from exc
    return Response(image, media_type="image/png", headers={"Cache-Control": "no-store"})


def _study_or_404(session: Session, study: str) -> str:
    if not study or session.get(Study, study) is None:
        raise HTTPException(404, _("no such study"))
    return study


@router.get("/charts")
def charts_page(
    request: Request,
    auth: WebAuth,
    session: DB,
    study: str = "",
    cutoff: str = "",
    pooled: str = "",
) -> Response:
    require(auth, *CHART_READERS)
    studies, study_id = pick_study(session, study)
    query_date(cutoff, "cutoff")
    blind = bool(study_id) and not arms_visible(auth.user, session.get(Study, study_id))
    ctx = {
        "auth": auth,
        "studies": studies,
        "study": study_id,
        "cutoff": cutoff,
        "pooled": _pooled(pooled) or blind,  # a blinded study: pooled only (pv.blinding)
        "charts": [(n, _(CHARTS[n].title)) for n in STUDY_CHARTS],
    }
    return render(request, "review/charts.html", ctx, partial="review/_charts.html")


@router.get("/charts/subject/{subject_id}/{kind}.png")
def subject_chart(
    request: Request, auth: WebAuth, session: DB, subject_id: PathId, kind: str, cutoff: str = ""
) -> Response:
    require(auth, *SUBJECT_READERS)
    subject = subject_or_404(session, auth, session.get(Subject, subject_id))
    if kind not in SUBJECT_KINDS:
        raise HTTPException(404, _("no such chart"))
    when = query_date(cutoff, "cutoff")
    eng = engine(request)
    masked = not arms_visible(auth.user, session.get(Study, subject.study_id), session=session,
                              subject_id=subject.id)  # pv.blinding  # fmt: skip
    if kind == "timeline":
        if masked:  # the infusions given reveal the arm
            raise HTTPException(403, _(NO_TIMELINE))
        return _png(
            lambda: chart_subject_timeline(eng, subject_id, study_id=subject.study_id, cutoff=when)
        )
    return _png(
        lambda: chart_cumulative_prednisone(
            eng, subject.study_id, subject_id, cutoff=when, pooled=masked
        )
    )  # masked: no arm in the title


@router.get("/charts/{name}.png")
def study_chart(
    request: Request,
    auth: WebAuth,
    session: DB,
    name: str,
    study: str = "",
    cutoff: str = "",
    pooled: str = "",
) -> Response:
    require(auth, *CHART_READERS)
    if name not in STUDY:
        raise HTTPException(404, _("no such chart"))
    if not study:
        study = session.exec(select(Study.id).order_by(Study.id)).first() or ""
    study_id = _study_or_404(session, study)
    when: date | None = query_date(cutoff, "cutoff")
    draw = STUDY[name]
    # A blinded study: pooled for a user who may not see arms (pv.blinding).
    pool = _pooled(pooled) or not arms_visible(auth.user, session.get(Study, study_id))
    return _png(lambda: draw(engine(request), study_id, cutoff=when, pooled=pool))
