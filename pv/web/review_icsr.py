"""Downloads of a serious event's expedited report: the CIOMS I form (PDF, labels in English
or Chinese) and the ICH E2B(R3) ICSR (XML), built from the case as it stands."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from pv import i18n
from pv.blinding.policy import arms_visible
from pv.i18n import gettext as _
from pv.icsr.build import CaseError, build_case
from pv.study.models import Study
from pv.web.deps import DB, PathId, WebAuth, event_or_404, require
from pv.web.downloads import attachment
from pv.web.review_common import REVIEWERS

router = APIRouter()


def _case(session, auth, event_id: int):  # type: ignore[no-untyped-def]
    require(auth, *REVIEWERS)
    event = event_or_404(session, auth, event_id)
    masked = not arms_visible(auth.user, session.get(Study, event.study_id), session=session,
                              subject_id=event.subject_id)  # pv.blinding  # fmt: skip
    try:
        return build_case(session, event.id, blinded=masked)
    except CaseError as exc:
        raise HTTPException(
            404, _("this event has no expedited report: it is not serious")
        ) from exc


@router.get("/review/events/{event_id}/cioms.pdf")
def cioms_pdf(request: Request, auth: WebAuth, session: DB, event_id: PathId,
              lang: str = Query("en", max_length=16)) -> Response:  # fmt: skip
    from pv.icsr.cioms import build_cioms

    language = i18n.normalize(lang)
    if language is None:
        raise HTTPException(422, _("lang: '%(value)s' is not a language (en, zh-Hans)", value=lang))
    case = _case(session, auth, event_id)
    data = build_cioms(case, language=language)
    return Response(data, media_type="application/pdf",
                    headers=attachment(f"{case.report_id}-CIOMS-{language}.pdf"))  # fmt: skip


@router.get("/review/events/{event_id}/e2b.xml")
def e2b_xml(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    from pv.icsr.e2b import build_e2b

    case = _case(session, auth, event_id)
    return Response(build_e2b(case), media_type="application/xml",
                    headers=attachment(f"{case.report_id}-E2B.xml"))  # fmt: skip
