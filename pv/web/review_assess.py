"""The sponsor's assessment form: what it shows, what was typed, and the RSI per drug.

Values are kept as typed (strings) so a refused form comes back exactly as it was sent.
Expectedness is shown from the RSI version in force on the awareness date; the officer
may override it for a drug, with a reason (the service refuses an override without one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData, QueryParams

from pv import inputs
from pv.events.models import AdverseEvent
from pv.i18n import gettext as _
from pv.labels import label
from pv.review.models import CAUSALITY, EXPECTED, UNEXPECTED, Assessment, RsiVersion
from pv.review.rsi import expectedness, rsi_in_force
from pv.review.service import Override
from pv.study.models import Drug
from pv.timeutil import today

WHO_UMC = CAUSALITY
EXPECTEDNESS = (EXPECTED, UNEXPECTED)


@dataclass
class RsiRow:
    drug: Drug
    version: RsiVersion | None
    by_rsi: str  # expected | unexpected


def default_awareness(event: AdverseEvent, assessment: Assessment | None) -> date:
    """Day 0 proposed: the assessment's, else the day the report reached the sponsor."""
    if assessment is not None:
        return assessment.awareness_date
    if event.submitted_at is not None:
        return event.submitted_at.date()
    return today()


def stored_values(
    event: AdverseEvent, assessment: Assessment | None, drugs: Sequence[Drug]
) -> dict[str, Any]:
    """The form as the stored assessment fills it (or as proposed before the first one)."""
    a = assessment
    overrides = a.override_reasons if a else {}
    serious = a.seriousness_confirmed if a else event.aeser
    return {
        "awareness_date": default_awareness(event, a).isoformat(),
        "seriousness": "" if serious is None else "Y" if serious else "N",
        "causality": {d.key: (a.causality.get(d.key, "") if a else "") for d in drugs},
        "override": {
            d.key: (a.expectedness.get(d.key, "") if a and d.key in overrides else "")
            for d in drugs
        },
        "override_reason": {d.key: overrides.get(d.key, "") for d in drugs},
        "reason": "",
    }


def _get(form: FormData | QueryParams, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def typed_values(form: FormData | QueryParams, drugs: Sequence[Drug]) -> dict[str, Any]:
    return {
        "awareness_date": _get(form, "awareness_date"),
        "seriousness": _get(form, "seriousness_confirmed"),
        "causality": {d.key: _get(form, f"causality.{d.key}") for d in drugs},
        "override": {d.key: _get(form, f"expectedness.{d.key}") for d in drugs},
        "override_reason": {d.key: _get(form, f"override_reason.{d.key}") for d in drugs},
        "reason": _get(form, "reason"),
    }


def awareness_of(values: dict[str, Any], fallback: date) -> date:
    try:
        return inputs.parse_date(values["awareness_date"])
    except ValueError:
        return fallback


def rsi_rows(
    session: Session, event: AdverseEvent, drugs: Sequence[Drug], on: date
) -> list[RsiRow]:
    rows = []
    for d in drugs:
        version = rsi_in_force(session, d.id, on)  # type: ignore[arg-type]
        rows.append(RsiRow(drug=d, version=version, by_rsi=expectedness(version, event.aelltcd)))
    return rows


def service_arguments(
    values: dict[str, Any], rsi: Sequence[RsiRow]
) -> tuple[dict[str, Any], dict[str, str]]:
    """save_assessment's keyword arguments from the typed values, and form-level errors.

    An override equal to what the RSI says is no override (and needs no reason).
    """
    errors: dict[str, str] = {}
    try:
        awareness = inputs.parse_date(values["awareness_date"])
    except ValueError:
        awareness = None
        errors["awareness_date"] = _("enter the awareness date as YYYY-MM-DD")
    if values["seriousness"] not in ("Y", "N"):
        errors["seriousness_confirmed"] = _("confirm whether the event is serious")
    overrides = {}
    for row in rsi:
        key = row.drug.key
        chosen = values["override"].get(key, "")
        if chosen and chosen not in EXPECTEDNESS:
            errors[f"expectedness.{key}"] = _("expected or unexpected")
        elif chosen and chosen != row.by_rsi:
            overrides[key] = Override(value=chosen, reason=values["override_reason"].get(key, ""))
    args = {
        "awareness_date": awareness,
        "seriousness_confirmed": values["seriousness"] == "Y",
        "causality": {k: v for k, v in values["causality"].items() if v},
        "overrides": overrides,
        "reason": values["reason"] or None,
    }
    return args, errors


def _yes_no(value: str | bool | None) -> str:
    if value in ("Y", True):
        return _("Yes")
    if value in ("N", False):
        return _("No")
    return "—"


def _label(kind: str, code: str | None) -> str:
    return label(kind, code) if code else "—"


def conflict_rows(
    assessment: Assessment | None, values: dict[str, Any], drugs: Sequence[Drug]
) -> list[tuple[str, str, str]]:
    """(field, their saved value, your typed value) for the assessment form."""
    a = assessment
    rows = [
        (
            _("Awareness date (day 0)"),
            a.awareness_date.isoformat() if a else "—",
            values["awareness_date"] or "—",
        ),
        (
            _("Seriousness confirmed"),
            _yes_no(a.seriousness_confirmed) if a else "—",
            _yes_no(values["seriousness"]),
        ),
    ]
    for d in drugs:
        rows.append(
            (
                _("Causality: %(drug)s", drug=d.name),
                _label("causality", a.causality.get(d.key) if a else None),
                _label("causality", values["causality"].get(d.key)),
            )
        )
        rows.append(
            (
                _("Expectedness: %(drug)s", drug=d.name),
                _label("expectedness", a.expectedness.get(d.key) if a else None),
                label("expectedness", ov)
                if (ov := values["override"].get(d.key))
                else _("as the RSI says"),
            )
        )
    rows.append(("SUSAR", _yes_no(a.is_susar) if a else "—", _("decided when saved")))
    return rows
