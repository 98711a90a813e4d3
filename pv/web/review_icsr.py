"""Downloads of a serious event's expedited report: the CIOMS I form (PDF, labels in English
or Chinese) and the ICH E2B(R3) ICSR (XML).

- Per report version (`/review/events/{id}/versions/{n}/cioms.pdf?lang=`, `/e2b.xml`): the
  files of what was frozen (pv.icsr.versions.version_file), byte-identical to what a
  submission of that version stores; these are the reports.
- The case as it stands (`/review/events/{id}/cioms.pdf`, `/e2b.xml`): a PREVIEW built now,
  kept so that the officer can check the forms before preparing a version; its file names
  say "preview" and it is never a report version.

A reader who may not see the treatment of a blinded study gets masked files (pv.blinding)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from pv import i18n
from pv.blinding.policy import arms_visible
from pv.i18n import gettext as _
from pv.icsr.build import CaseError, build_case
from pv.icsr.models import ReportFormat
from pv.icsr.versions import get_version, version_file
from pv.study.models import Study
from pv.web.deps import DB, PathId, WebAuth, event_or_404, require
from pv.web.downloads import attachment
from pv.web.review_common import REVIEWERS

router = APIRouter()


def _masked(session, auth, event) -> bool:  # type: ignore[no-untyped-def]
    return not arms_visible(auth.user, session.get(Study, event.study_id), session=session,
                            subject_id=event.subject_id)  # pv.blinding  # fmt: skip


def _language(lang: str) -> str:
    language = i18n.normalize(lang)
    if language is None:
        raise HTTPException(422, _("lang: '%(value)s' is not a language (en, zh-Hans)", value=lang))
    return language


def _case(session, auth, event_id: int):  # type: ignore[no-untyped-def]
    require(auth, *REVIEWERS)
    event = event_or_404(session, auth, event_id)
    masked = _masked(session, auth, event)
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

    language = _language(lang)
    case = _case(session, auth, event_id)
    data = build_cioms(case, language=language)
    name = f"{case.report_id}-preview-CIOMS-{language}.pdf"
    return Response(data, media_type="application/pdf", headers=attachment(name))


@router.get("/review/events/{event_id}/e2b.xml")
def e2b_xml(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    from pv.icsr.e2b import build_e2b

    case = _case(session, auth, event_id)
    return Response(build_e2b(case), media_type="application/xml",
                    headers=attachment(f"{case.report_id}-preview-E2B.xml"))  # fmt: skip


def _version_file(session, auth, event_id: int, number: int, fmt: ReportFormat):  # type: ignore[no-untyped-def]
    require(auth, *REVIEWERS)
    event = event_or_404(session, auth, event_id)
    try:
        version = get_version(session, event.id, number)
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from exc
    return version_file(version, fmt, masked=_masked(session, auth, event))


@router.get("/review/events/{event_id}/versions/{number}/cioms.pdf")
def version_cioms_pdf(request: Request, auth: WebAuth, session: DB, event_id: PathId,
                      number: PathId,
                      lang: str = Query("en", max_length=16)) -> Response:  # fmt: skip
    """Report version `number`'s CIOMS I form, labels in `lang` (en, zh-Hans)."""
    language = _language(lang)
    fmt = ReportFormat.cioms_zh if language == "zh-Hans" else ReportFormat.cioms
    name, data = _version_file(session, auth, event_id, number, fmt)
    return Response(data, media_type="application/pdf", headers=attachment(name))


@router.get("/review/events/{event_id}/versions/{number}/e2b.xml")
def version_e2b_xml(request: Request, auth: WebAuth, session: DB, event_id: PathId,
                    number: PathId) -> Response:  # fmt: skip
    """Report version `number`'s E2B(R3) ICSR."""
    name, data = _version_file(session, auth, event_id, number, ReportFormat.e2b)
    return Response(data, media_type="application/xml", headers=attachment(name))
