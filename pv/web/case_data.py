"""The SAE case data of a serious event on the web: the form sections (reporter,
hospitalization, history, concomitant medications, tests, dechallenge / rechallenge, death)
on the event form and the review page.

One partial, templates/events/_sae_case.html, draws the sections from one dict (`sae`,
built by `sae_section`): on the event form it appears when "serious" is answered Yes
(htmx asks /events/sae-case-fields again, as the pre-existing section does) and is saved
in the same transaction as the event (pv.web.events_pages); on the review page it sits in
its own form posting to /review/events/{id}/sae-case, swapped in place by htmx (422 with
every message beside its field and the values as typed). The rules are the service's
(pv.icsr.casedata): this module only maps the form to its payload and back.

A list (history, medications, tests) is posted as `conmeds[0].name`, `conmeds[0].dose` ...;
"Add a row" asks /sae-case/row for one more blank row; a row left blank is ignored, so the
rows are renumbered before the service sees them and the finding `conmeds[0].start` is the
first row the form shows again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from pv.auth.models import Role
from pv.db import write_session
from pv.events.models import AdverseEvent, Status
from pv.events.service import ValidationFailed, subject_drugs
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.icsr.casedata import (
    CASE_SCALARS,
    DEATH_FIELDS,
    CaseVersionConflict,
    case_data_dict,
    get_case_data,
    save_case_data,
)
from pv.labels import register
from pv.study.models import Drug, Subject
from pv.web.deps import Auth, PathId, WebAuth, engine, event_or_404, require
from pv.web.review_common import field_errors, refusals
from pv.web.templating import is_htmx, render

router = APIRouter()

register(
    "qualification",  # E2B C.2.r.4 (pv.icsr.models.QUALIFICATIONS)
    {
        "1": N_("Physician"),
        "2": N_("Pharmacist"),
        "3": N_("Other health professional"),
        "4": N_("Lawyer"),
        "5": N_("Consumer or other non-health professional"),
    },
)
register(
    "dechallenge",  # CIOMS I box 20 (pv.icsr.models.CHALLENGE_RESULTS)
    {
        "yes": N_("Yes: abated after stopping"),
        "no": N_("No: did not abate after stopping"),
        "na": N_("Not applicable (not stopped)"),
        "unknown": N_("Unknown"),
    },
)
register(
    "rechallenge",  # CIOMS I box 21
    {
        "yes": N_("Yes: reappeared after reintroduction"),
        "no": N_("No: did not reappear after reintroduction"),
        "na": N_("Not applicable (not reintroduced)"),
        "unknown": N_("Unknown"),
    },
)
register("autopsy", {"Y": N_("Yes"), "N": N_("No"), "U": N_("Unknown")})  # E2B D.9.3

# The payload's scalars, posted under their own names.
SCALARS = CASE_SCALARS
DEATH = DEATH_FIELDS


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # marked with N_, translated where shown
    kind: str = "text"  # text | date | number | yesno
    maxlength: int = 200


LISTS: dict[str, tuple[Column, ...]] = {
    "medical_history": (
        Column("term", N_("Condition or diagnosis")),
        Column("start", N_("Start date"), "date", 20),
        Column("ongoing", N_("Ongoing"), "yesno"),
    ),
    "conmeds": (
        Column("name", N_("Medication")),
        Column("dose", N_("Dose"), "number", 20),
        Column("unit", N_("Unit"), maxlength=20),
        Column("route", N_("Route"), maxlength=60),
        Column("start", N_("Start date"), "date", 20),
        Column("stop", N_("Stop date"), "date", 20),
        Column("indication", N_("Indication")),
    ),
    "tests": (
        Column("name", N_("Test")),
        Column("date", N_("Date"), "date", 20),
        Column("value", N_("Result"), maxlength=60),
        Column("unit", N_("Unit"), maxlength=20),
        Column("low", N_("Normal low"), maxlength=20),
        Column("high", N_("Normal high"), maxlength=20),
    ),
}
LIST_TITLES = {
    "medical_history": N_("Relevant medical history"),
    "conmeds": N_("Concomitant medications"),
    "tests": N_("Relevant tests and results"),
}
LIST_HINTS = {
    "medical_history": N_(
        "Diagnoses, allergies, pregnancy and other history relevant to the event."
    ),  # fmt: skip
    "conmeds": N_(
        "Medicines other than the study drugs, excluding those given to treat the event."
    ),  # fmt: skip
    "tests": N_(
        "Laboratory tests and procedures relevant to the event, with their normal range."
    ),  # fmt: skip
}
_ROW = re.compile(r"^(medical_history|conmeds|tests)\[(\d{1,4})\]\.([a-z_]+)$")
EDITORS = (Role.investigator, Role.officer, Role.admin)  # and then the service's own check


# --- the form <-> the service's payload ---------------------------------------------------


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def case_from_form(form: Mapping[str, Any], drug_keys: Sequence[str]) -> dict[str, Any]:
    """The service's payload from a posted form (or query string): text as typed (stripped,
    empty -> None), rows in the form's order with blank rows left out, ongoing Y/N as
    true/false, a challenge result per drug of the subject."""
    data: dict[str, Any] = {name: _text(form, name) for name in SCALARS}
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for key in form:
        m = _ROW.match(key)
        if m and m[3] in {c.key for c in LISTS[m[1]]}:
            rows.setdefault(m[1], {}).setdefault(int(m[2]), {})[m[3]] = _text(form, key)
    for kind, columns in LISTS.items():
        items = []
        for i in sorted(rows.get(kind, {})):
            row = {c.key: rows[kind][i].get(c.key) for c in columns}
            if all(v is None for v in row.values()):
                continue  # a blank row is ignored
            if "ongoing" in row:
                row["ongoing"] = {"Y": True, "N": False, None: None}.get(
                    row["ongoing"], row["ongoing"]
                )
            items.append(row)
        data[kind] = items
    for which in ("dechallenge", "rechallenge"):
        data[which] = {k: v for k in drug_keys if (v := _text(form, f"{which}.{k}"))}
    return data


def form_case_version(form: Mapping[str, Any]) -> int | None:
    """The case data's version the form was read at (0: nothing was stored); None when the
    form does not say (then the save does not check it)."""
    value = _text(form, "sae_version")
    return int(value) if value is not None and re.fullmatch("[0-9]{1,9}", value) else None


def next_row_index(form: Mapping[str, Any], kind: str) -> int:
    """The index of a row added after the rows posted (one more than the largest)."""
    found = [int(m[2]) for key in form if (m := _ROW.match(key)) and m[1] == kind]
    return max(found, default=-1) + 1


def _shown(value: Any) -> str:
    """A stored or typed value as the form shows it."""
    if value is None:
        return ""
    if value is True:
        return "Y"
    if value is False:
        return "N"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def display_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The payload (stored or typed) as strings for the form."""
    out: dict[str, Any] = {name: _shown(data.get(name)) for name in SCALARS}
    for kind, columns in LISTS.items():
        out[kind] = [{c.key: _shown(row.get(c.key)) for c in columns}
                     for row in data.get(kind) or [] if isinstance(row, Mapping)]  # fmt: skip
    for which in ("dechallenge", "rechallenge"):
        given = data.get(which) or {}
        out[which] = {str(k): _shown(v) for k, v in given.items()}
    return out


def has_data(values: Mapping[str, Any]) -> bool:
    return any(values.get(name) for name in SCALARS) or any(
        values.get(kind) for kind in (*LISTS, "dechallenge", "rechallenge")
    )


def is_case_field(name: str) -> bool:
    """Is a finding's field one of the case data's (not the event's)?"""
    return (
        name in SCALARS
        or name.startswith(("medical_history", "conmeds", "tests", "dechallenge", "rechallenge"))
        or name in ("sae_case", "sae_version")
    )


def split_errors(errors: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the event's errors, the case data's errors)."""
    event = {k: v for k, v in errors.items() if not is_case_field(k)}
    case = {k: v for k, v in errors.items() if is_case_field(k)}
    return event, case


def sae_section(
    *,
    drugs: Sequence[Drug],
    values: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
    shown: bool = True,
    editable: bool = True,
    fatal: bool = False,
    version: int | None = None,
    saved: bool = False,
    heading: bool = False,
) -> dict[str, Any]:
    """What templates/events/_sae_case.html draws (the `sae` of its context)."""
    shown_values = display_values(values or {})
    errors = dict(errors or {})
    # death details: for a fatal event, or when some are stored or typed already
    fatal = fatal or any(shown_values[name] for name in DEATH)
    placed = set(SCALARS) | {f"{w}.{d.key}" for w in ("dechallenge", "rechallenge") for d in drugs}
    for kind, columns in LISTS.items():
        for i in range(len(shown_values[kind])):
            placed.update(f"{kind}[{i}].{c.key}" for c in columns)
    if not fatal:
        placed -= set(DEATH)
    return {
        "shown": shown,
        "editable": editable,
        "fatal": fatal,
        "fields": shown_values,  # (not "values": a dict method in Jinja)
        "errors": errors,
        # findings with no field of their own on the form: said at the top of the section
        "other_errors": [msg for name, msg in errors.items() if name not in placed],
        "drugs": list(drugs),
        "lists": LISTS,
        "list_titles": LIST_TITLES,
        "list_hints": LIST_HINTS,
        "version": version,
        "saved": saved,
        "heading": heading,  # its own heading (on the event form)
        "has_data": has_data(shown_values),
    }


def is_fatal(event: AdverseEvent | None = None, *, aesdth: bool = False,
             aeout: str | None = None) -> bool:  # fmt: skip
    """Death details belong to a fatal event: "results in death" ticked or outcome fatal."""
    if event is not None:
        aesdth, aeout = bool(event.aesdth), event.aeout
    return aesdth or aeout == "FATAL"


# --- the review page ----------------------------------------------------------------------


def may_edit(auth: Auth, event: AdverseEvent) -> bool:
    """Officers (and administrators) and the event's site's investigators, while the event
    is serious, submitted and not locked (the service checks it again when saving)."""
    if auth.role not in EDITORS or not auth.can_see_site(event.site_id):
        return False
    return bool(event.aeser) and event.status not in (Status.locked,)


def stored_case(session: Session, event_id: int) -> tuple[dict[str, Any], int | None]:
    """(the stored payload, its version) of an event; empty and 0 when there is none."""
    row = get_case_data(session, event_id)
    return case_data_dict(row), (row.version if row is not None else 0)


def case_data_context(
    session: Session,
    auth: Auth,
    event: AdverseEvent,
    errors: Mapping[str, Any],
    *,
    typed: Mapping[str, Any] | None = None,
    saved: bool = False,
    version: int | None = None,
) -> dict[str, Any]:
    """This section's part of the review page's context (pv.web.review_context): `sae`,
    the stored case data (or `typed` with the errors of form "sae_case" after a refusal)."""
    assert event.id is not None
    subject = session.get(Subject, event.subject_id)
    assert subject is not None
    stored, stored_version = stored_case(session, event.id)
    editable = may_edit(auth, event)
    values = typed if typed is not None and editable else stored  # read-only: as stored
    section = sae_section(
        drugs=subject_drugs(session, subject),
        values=values,
        errors=errors.get("sae_case") or {},
        shown=editable or has_data(display_values(stored)),
        editable=editable,
        fatal=is_fatal(event),
        version=version if version is not None else stored_version,
        saved=saved,
    )
    return {"sae": section}


def _refused(errors: dict[str, str]) -> dict[str, str]:
    return errors or {"sae_case": _("the case data was not saved")}


@router.post("/review/events/{event_id}/sae-case")
async def save_case_page(request: Request, auth: WebAuth, event_id: PathId) -> Response:
    """Save the review page's case data section: the section again (htmx) with the saved
    values, or 422 with every message beside its field and the values as typed; without
    htmx, back to the page (303) or the page with the errors."""
    require(auth, *EDITORS)
    form = await request.form()
    with write_session(engine(request)) as session:
        event = event_or_404(session, auth, event_id)
        subject = session.get(Subject, event.subject_id)
        assert subject is not None
        drugs = subject_drugs(session, subject)
        data = case_from_form(form, [d.key for d in drugs])
        expected = form_case_version(form)
        try:
            with refusals():
                row = save_case_data(session, auth.actor, event_id, data,
                                     expected_version=expected)  # fmt: skip
            if not is_htmx(request):
                return RedirectResponse(
                    f"/review/events/{event_id}?done=sae_case#case-data", status_code=303
                )
            ctx = case_data_context(session, auth, event, {}, saved=True, version=row.version)
            return render(request, "review/_case_data.html", {"auth": auth, "event": event, **ctx})
        except ValidationFailed as exc:
            status, errors = 422, field_errors(exc)
        except CaseVersionConflict as exc:
            status, errors = 409, {"sae_version": exc.message}
        session.rollback()  # nothing of a refused form is stored
        event = event_or_404(session, auth, event_id)
        errors = _refused(errors)
        ctx = case_data_context(session, auth, event, {"sae_case": errors}, typed=data,
                                version=expected)  # fmt: skip
        if is_htmx(request):
            return render(request, "review/_case_data.html",
                          {"auth": auth, "event": event, **ctx}, status_code=status)  # fmt: skip
        from pv.web.review_context import review_context

        page = review_context(session, auth, event)
        page.update(ctx)
        return render(request, "review/event.html", page, status_code=status)


@router.get("/sae-case/row")
def case_row(request: Request, auth: WebAuth, kind: str = "") -> Response:
    """One more blank row of a list (the "Add a row" button posts the rows it has)."""
    require(auth, *EDITORS)
    if kind not in LISTS:
        raise HTTPException(404, _("no such list"))
    index = next_row_index(request.query_params, kind)
    if index > 999:
        raise HTTPException(422, _("at most 1000 rows"))
    sae = sae_section(drugs=[], values={}, editable=True)
    ctx = {"auth": auth, "sae": sae, "kind": kind, "i": index, "row": {}}
    return render(request, "events/_sae_row.html", ctx)
