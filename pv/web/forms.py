"""Form data <-> EventInput, with a message per field that cannot be converted."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from pv.events.models import SERIOUS_CRITERIA
from pv.events.rules import EventInput
from pv.i18n import gettext as _
from pv.inputs import parse_id

TEXT_FIELDS = ("aeterm", "aeterm_en", "aelltcd", "aeout", "aestdtc", "aeendtc", "aecontrt",
               "narrative", "aeawaredtc", "worsened_dtc", "aegrpid", "aespid")  # fmt: skip


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def event_from_form(form: FormData, drug_keys: list[str]) -> tuple[EventInput, dict[str, str]]:
    errors: dict[str, str] = {}
    data = EventInput(**{name: _text(form, name) for name in TEXT_FIELDS})
    grade = _text(form, "aetoxgr")
    if grade is not None:
        if (number := parse_id(grade)) is not None:  # ASCII digits only
            data.aetoxgr = number
        else:
            errors["aetoxgr"] = _("choose a grade from 1 to 5")
    serious = _text(form, "aeser")
    data.aeser = {"Y": True, "N": False}.get(serious or "")
    for c in SERIOUS_CRITERIA:
        setattr(data, c, bool(data.aeser) and form.get(c) == "Y")
    data.ongoing = form.get("ongoing") == "Y"
    # The grade at the first dose and the worsening date belong to the pre-existing section:
    # unticking the box (which hides the section) leaves them out.
    data.preexisting = form.get("preexisting") == "Y"
    if not data.preexisting:
        data.worsened_dtc = None
    elif (initial := _text(form, "initial_grade")) is not None:
        if (number := parse_id(initial)) is not None:
            data.initial_grade = number
        else:
            errors["initial_grade"] = _("choose a grade from 1 to 5")
    data.aerel = {k: v for k in drug_keys if (v := _text(form, f"aerel.{k}"))}
    data.aeacn = {k: v for k in drug_keys if (v := _text(form, f"aeacn.{k}"))}
    return data, errors


def form_values(data: EventInput) -> dict[str, Any]:
    """What the form shows: exactly what was typed or stored."""
    values: dict[str, Any] = {name: getattr(data, name) for name in TEXT_FIELDS}
    values["aetoxgr"] = data.aetoxgr
    values["aeser"] = {True: "Y", False: "N"}.get(data.aeser)  # type: ignore[arg-type]
    for c in SERIOUS_CRITERIA:
        values[c] = getattr(data, c)
    values["ongoing"] = data.ongoing
    values["preexisting"] = data.preexisting
    values["initial_grade"] = data.initial_grade
    values["aerel"] = dict(data.aerel)
    values["aeacn"] = dict(data.aeacn)
    return values
