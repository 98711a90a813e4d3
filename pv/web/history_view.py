"""An event's history as a person reads it: field labels instead of column names, values as
the screens show them (Yes/No, outcome and causality labels, AESI groupings), and none of
the internal ids (the page itself names the study, subject and site)."""

from __future__ import annotations

from typing import Any, NamedTuple

from pv.i18n import N_
from pv.i18n import gettext as _
from pv.labels import label, labels_of

# In the order the form asks them; a field not listed is shown by its own name.
FIELDS: dict[str, str] = {
    "status": N_("Status"),
    "aeterm": N_("Reported term"),
    "aeterm_en": N_("Reported term in English"),
    "aelltcd": N_("CTCAE code"),
    "aedecod": N_("CTCAE term"),
    "aebodsys": N_("System organ class"),
    "terminology": N_("Terminology"),
    "aetoxgr": N_("CTCAE grade"),
    "aesev": N_("Severity"),
    "aeser": N_("Serious"),
    "aesdth": "",
    "aeslife": "",
    "aeshosp": "",
    "aesdisab": "",
    "aescong": "",
    "aesmie": "",
    "aestdtc": N_("Onset date"),
    "aeendtc": N_("End date"),
    "ongoing": N_("Ongoing"),
    "aeout": N_("Outcome"),
    "aerel": N_("Relationship to the study drugs"),
    "aeacn": N_("Action taken with the study drugs"),
    "aecontrt": N_("Treatment given"),
    "narrative": N_("Narrative"),
    "aesi": N_("Special interest"),
    "preexisting": N_("Present before the first dose"),
    "worsened_dtc": N_("Worsened on"),
}
# Internal ids and values derived from others: the history shows what a person entered.
HIDDEN = frozenset({"study_id", "subject_id", "site_id", "term_id", "version", "aeseq",
                    "related", "drug_withdrawn", "sponsor_te_flag"})  # fmt: skip
EMPTY = "∅"


class Change(NamedTuple):
    field: str  # the label
    old: str | None  # None: the entry set the value (a new event)
    new: str


def field_label(name: str) -> str:
    if name in FIELDS and not FIELDS[name]:
        return label("criterion", name)
    return _(FIELDS[name]) if name in FIELDS else name


def shown(name: str, value: Any) -> str:
    """A stored value as the screens show it."""
    if value is None or value == "" or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return label("yesno", value)
    if name == "status":
        return label("status", value)
    if name == "aeout":
        return label("outcome", value)
    if name == "aesi":
        return labels_of("aesi", str(value))
    if name in ("aerel", "aeacn") and isinstance(value, dict):
        kind = "relationship" if name == "aerel" else "action"
        return "; ".join(f"{drug}: {label(kind, v)}" for drug, v in sorted(value.items()))
    return str(value)


def changes(action: str, recorded: dict[str, Any]) -> list[Change]:
    """The readable changes of one audit entry (`{field: [old, new]}`)."""
    order = {name: i for i, name in enumerate(FIELDS)}
    out = []
    for name in sorted(recorded, key=lambda n: (order.get(n, len(order)), n)):
        if name in HIDDEN:
            continue
        old, new = recorded[name]
        created = action in ("create", "submit") and old is None
        if created and new in (None, "", {}, False):
            continue  # a new event: only what was filled in
        out.append(Change(field_label(name), None if created else shown(name, old),
                          shown(name, new)))  # fmt: skip
    return out
