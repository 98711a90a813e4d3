"""Report versions of an event's expedited report on the review page: prepare (freeze) the
initial report or a follow-up, what changed, and each version's CIOMS I and E2B(R3)
downloads (pv.icsr.versions; the downloads are pv.web.review_icsr's).

Officers prepare: "Prepare initial report", "Prepare follow-up N" once the latest version
has a submission that stands, else "Refresh version N" (re-frozen before anything stands).
The form posts with htmx and the section (#case-versions) is swapped with the new table, or
with the refusal; without htmx a success redirects back to the section. Administrators see
the versions and download them; a reader who may not see the treatment of a blinded study
gets masked files and no arm or study-drug name in the list of changes.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from pv.auth.models import Role
from pv.blinding.policy import arms_visible
from pv.db import write_session
from pv.events.models import Status
from pv.events.service import ValidationFailed
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.icsr.build import CaseError
from pv.icsr.models import ReportVersion
from pv.icsr.versions import NOTE_MAX, prepare_version, standing, version_submissions, versions_of
from pv.labels import label
from pv.review.workflow import RoleRefused, TransitionRefused
from pv.study.models import Study
from pv.web.deps import DB, Auth, PathId, WebAuth, engine, event_or_404, require
from pv.web.review_common import REVIEWERS, field_errors, text
from pv.web.templating import is_htmx, render

router = APIRouter()
FORM = "versions"  # this section's key in the page's errors
SECTION = "review/_case_versions.html"

# The case's parts as the list of changes names them (pv.icsr.case.Case fields).
PARTS = {
    "study": N_("Study"),
    "sender": N_("Sender"),
    "reporter": N_("Reporter"),
    "patient": N_("Patient"),
    "reaction": N_("Reaction"),
    "drugs": N_("Study drug"),
    "treatment": N_("Treatment given"),
    "narrative": N_("Narrative"),
    "narrative_lang": N_("Narrative language"),
    "susar": N_("SUSAR"),
    "fatal_or_life_threatening": N_("Fatal or life-threatening"),
    "first_received": N_("First received"),
    "hospital_admission": N_("Hospital admission"),
    "hospital_discharge": N_("Hospital discharge"),
    "history": N_("Medical history"),
    "conmeds": N_("Concomitant medication"),
    "tests": N_("Relevant test"),
    "death": N_("Death"),
    "extra": N_("Other information"),
}
# What a reader who may not see the treatment is not told (the arm, which drugs).
_MASKED_LEAVES = ("arm", "name", "key")


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return label("yesno", value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def readable_change(path: str, old: Any, new: Any, *, masked: bool) -> dict[str, str] | None:
    """One change as the table shows it: {"path", "what", "old", "new"}; None when a
    masked reader may not see it (the arm, the study drugs' names)."""
    head, _sep, rest = path.partition(".")
    part, index = head, None
    if "[" in head and head.endswith("]"):
        part, _b, number = head[:-1].partition("[")
        index = int(number) + 1 if number.isdigit() else None
    leaf = rest.rsplit(".", 1)[-1] if rest else ""
    if masked and (path == "patient.arm" or (part == "drugs" and leaf in _MASKED_LEAVES)):
        return None
    name = _(PARTS[part]) if part in PARTS else part
    if index is not None and masked and part == "drugs":
        what = name  # which of the drugs may say which arm
    elif index is not None:
        what = _("%(part)s %(n)s", part=name, n=index)
    else:
        what = name
    if rest:
        what = f"{what} · {rest}"
    return {"path": path, "what": what, "old": _value(old), "new": _value(new)}


def _masked(session: Session, auth: Auth, event: Any) -> bool:
    study = session.get(Study, event.study_id)
    return not arms_visible(auth.user, study, session=session, subject_id=event.subject_id)


def versions_context(
    session: Session, auth: Auth, event: Any, errors: dict[str, Any]
) -> dict[str, Any]:
    """This section's part of the review page's context (pv.web.review_context)."""
    if not event.aeser and not versions_of(session, event.id) and not errors.get(FORM):
        return {"case_versions": None}  # no report: no section (but a refusal shows)
    masked = _masked(session, auth, event)
    rows = []
    versions = versions_of(session, event.id)
    for v in versions:
        subs = version_submissions(session, v.id)  # type: ignore[arg-type]
        changes = [readable_change(c["field"], c.get("old"), c.get("new"), masked=masked)
                   for c in v.changes or ()]  # fmt: skip
        rows.append({
            "version": v,
            "kind": _("Initial report") if v.number == 1
            else _("Follow-up %(n)s", n=v.number - 1),
            "at": (v.refreshed_at or v.created_at).strftime("%Y-%m-%d %H:%M UTC"),
            "refreshed": v.refreshed_at is not None,
            "changes": [c for c in changes if c is not None],
            "hidden": sum(c is None for c in changes),
            "submissions": len(subs),
            "standing": sum(standing(s) for s in subs),
        })  # fmt: skip
    latest = versions[-1] if versions else None
    refresh = latest is not None and not any(
        standing(s)
        for s in version_submissions(session, latest.id)  # type: ignore[arg-type]
    )
    if latest is None:
        action, explain = (
            _("Prepare initial report"),
            _("Freezes the case as it stands as version 1, the initial report."),
        )
    elif refresh:
        action = _("Refresh version %(n)s", n=latest.number)
        explain = _(
            "Nothing sent of version %(n)s stands: it is frozen again from the case as it "
            "stands, with the same number.",
            n=latest.number,
        )
    else:
        action = _("Prepare follow-up %(n)s", n=latest.number)
        explain = _(
            "Version %(n)s has been sent: the case as it stands becomes version "
            "%(next)s, with what changed since.",
            n=latest.number,
            next=latest.number + 1,
        )
    mine = errors.get(FORM) or {}
    return {
        "case_versions": {
            "rows": rows,
            "action": action,
            "explain": explain,
            "can_prepare": auth.role == Role.officer
            and bool(event.aeser)
            and event.status != Status.draft,
            "errors": {k: v for k, v in mine.items() if k not in ("typed_note", "done")},
            # a refresh starts from the version's note (an empty field keeps it too)
            "note": mine.get("typed_note", (latest.note or "") if refresh and latest else ""),
            "note_max": NOTE_MAX,
            "masked": masked,
            "done": mine.get("done"),
        }
    }


def _section(
    request: Request, session: Session, auth: Auth, event_id: int, errors: dict[str, Any],
    status: int = 200,
) -> Response:  # fmt: skip
    """The section alone (htmx) or the whole review page."""
    from pv.web.review_context import review_context

    event = event_or_404(session, auth, event_id)
    if is_htmx(request):
        ctx = {"auth": auth, "event": event, **versions_context(session, auth, event, errors)}
        return render(request, SECTION, ctx, status_code=status)
    ctx = review_context(session, auth, event, errors=errors)  # type: ignore[arg-type]
    return render(request, "review/event.html", ctx, status_code=status)


@router.post("/review/events/{event_id}/versions")
async def prepare(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    """Prepare (or refresh) the event's report version; the note is optional."""
    require(auth, Role.officer)
    form = await request.form()
    note = text(form, "note")
    with write_session(engine(request)) as session:
        event_or_404(session, auth, event_id)
        problem: dict[str, str] = {}
        status = 200
        try:
            row: ReportVersion = prepare_version(session, auth.actor, event_id, note=note or None)
        except ValidationFailed as exc:
            problem, status = field_errors(exc), 422
        except (CaseError, TransitionRefused) as exc:
            problem, status = {"form": str(exc.args[0]) if exc.args else str(exc)}, 409
        except RoleRefused as exc:  # require() let an officer through: not expected
            problem, status = {"form": str(exc)}, 409
        if problem:
            session.rollback()  # nothing of a refused form is stored
            problem["typed_note"] = note
            return _section(request, session, auth, event_id, {FORM: problem}, status)
        if not is_htmx(request):
            return RedirectResponse(f"/review/events/{event_id}?done=version#case-versions", 303)
        done = _("Version %(n)s saved.", n=row.number)
        response = _section(request, session, auth, event_id, {FORM: {"done": done}})
        # the Expedited reports section offers the new version: it reloads itself on this
        response.headers["HX-Trigger"] = "pv-versions-changed"
        return response


@router.get("/review/events/{event_id}/versions")
def section(request: Request, auth: WebAuth, session: DB, event_id: PathId) -> Response:
    """The section as it stands (htmx: after a submission or an ACK changed what stands)."""
    require(auth, *REVIEWERS)
    return _section(request, session, auth, event_id, {})
