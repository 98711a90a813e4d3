"""Display labels of stored codes, in the language of the work in hand.

The database keeps codes (workflow statuses, roles, CDISC controlled terminology such as
AEOUT "RECOVERED/RESOLVED", WHO-UMC causality categories); screens and outputs show their
labels. `label(kind, code)` is the one place a code becomes words; a code without a label
is shown as it is (never an error: an imported study may carry values of its own).
Templates call it as `label('status', ev.status)`.
"""

from __future__ import annotations

from pv.i18n import N_, gettext

_LABELS: dict[str, dict[str, str]] = {
    "status": {
        "draft": N_("draft"),
        "submitted": N_("submitted"),
        "under_review": N_("under review"),
        "queried": N_("queried"),
        "answered": N_("answered"),
        "assessed": N_("assessed"),
        "locked": N_("locked"),
    },
    "role": {
        "investigator": N_("investigator"),
        "officer": N_("safety officer"),
        "dsmb": N_("DSMB member"),
        "admin": N_("administrator"),
    },
    # SDTM controlled terminology C66768 (AEOUT).
    "outcome": {
        "RECOVERED/RESOLVED": N_("Recovered/resolved"),
        "RECOVERING/RESOLVING": N_("Recovering/resolving"),
        "NOT RECOVERED/NOT RESOLVED": N_("Not recovered/not resolved"),
        "RECOVERED/RESOLVED WITH SEQUELAE": N_("Recovered/resolved with sequelae"),
        "FATAL": N_("Fatal"),
        "UNKNOWN": N_("Unknown"),
    },
    # The investigator's four-point causality scale per study drug.
    "relationship": {
        "RELATED": N_("Related"),
        "POSSIBLY RELATED": N_("Possibly related"),
        "UNLIKELY RELATED": N_("Unlikely related"),
        "NOT RELATED": N_("Not related"),
    },
    # SDTM controlled terminology C66767 (AEACN).
    "action": {
        "DOSE NOT CHANGED": N_("Dose not changed"),
        "DOSE REDUCED": N_("Dose reduced"),
        "DOSE INCREASED": N_("Dose increased"),
        "DRUG INTERRUPTED": N_("Drug interrupted"),
        "DRUG WITHDRAWN": N_("Drug withdrawn"),
        "NOT APPLICABLE": N_("Not applicable"),
        "UNKNOWN": N_("Unknown"),
    },
    # WHO-UMC causality categories (the officer's assessment).
    "causality": {
        "certain": N_("certain"),
        "probable": N_("probable"),
        "possible": N_("possible"),
        "unlikely": N_("unlikely"),
        "conditional": N_("conditional"),
        "unassessable": N_("unassessable"),
    },
    "expectedness": {"expected": N_("expected"), "unexpected": N_("unexpected")},
    "criterion": {
        "aesdth": N_("Results in death"),
        "aeslife": N_("Life-threatening"),
        "aeshosp": N_("Requires or prolongs hospitalization"),
        "aesdisab": N_("Persistent or significant disability/incapacity"),
        "aescong": N_("Congenital anomaly/birth defect"),
        "aesmie": N_("Other medically important event"),
    },
    "query_status": {"open": N_("open"), "answered": N_("answered"), "closed": N_("closed")},
    "job_status": {
        "queued": N_("queued"),
        "reading": N_("reading"),
        "checking": N_("checking"),
        "storing": N_("storing"),
        "stored": N_("stored"),
        "rejected": N_("rejected"),
        "refused": N_("refused"),
        "cancelled": N_("cancelled"),
        "failed": N_("failed"),
    },
    "sex": {"M": N_("male"), "F": N_("female"), "U": N_("unknown")},
    # The trial's AESI groupings (terminologies/aesi/groupings.csv keys), the infusion rule's
    # flag, and the glucocorticoid-toxicity domains (GTI, Miloslavsky et al. 2017).
    "aesi": {
        "infection": N_("Infections"),
        "hypersensitivity": N_("Hypersensitivity reactions"),
        "infusion_reaction": N_("Infusion and injection reactions"),
        "gc_toxicity": N_("Glucocorticoid toxicity"),
        "possible_infusion_reaction": N_("possible infusion reaction"),
        "serious_infection": N_("serious infection"),
    },
    # What a query may be about (an event field), as the review page and notifications name it;
    # seriousness criteria use the "criterion" labels.
    "query_field": {
        "aeterm": N_("Reported term"),
        "aelltcd": N_("CTCAE term"),
        "aetoxgr": N_("CTCAE grade"),
        "aeser": N_("Serious"),
        "aestdtc": N_("Onset date"),
        "aeendtc": N_("End date"),
        "ongoing": N_("Ongoing"),
        "aeout": N_("Outcome"),
        "aecontrt": N_("Treatment given"),
        "narrative": N_("Narrative"),
        "aerel": N_("Relationship to study drug"),
        "aeacn": N_("Action taken with study drug"),
    },
    "gti_domain": {
        "bmi": N_("Body mass index"),
        "glucose": N_("Glucose tolerance"),
        "blood_pressure": N_("Blood pressure"),
        "lipids": N_("Lipids"),
        "bone": N_("Bone"),
        "myopathy": N_("Steroid myopathy"),
        "skin": N_("Skin toxicity"),
        "neuropsychiatric": N_("Neuropsychiatric toxicity"),
        "infection": N_("Infection"),
        "damage": N_("Damage items (GTI Specific List)"),
    },
    "yesno": {"True": N_("Yes"), "False": N_("No")},
}


def label(kind: str, code: object, default: str | None = None) -> str:
    """The label of `code` in vocabulary `kind`, translated; `default` (else the code
    itself) if the vocabulary does not know it."""
    if code is None:
        return ""
    key = str(code)
    found = _LABELS.get(kind, {}).get(key)
    if found is not None:
        return gettext(found)
    return default if default is not None else key


def labels_of(kind: str, codes: str, sep: str = ", ") -> str:
    """The labels of comma-separated codes (an event's AESI groupings), translated."""
    return sep.join(label(kind, c, c.replace("_", " ")) for c in codes.split(",") if c)


def choices(kind: str) -> list[tuple[str, str]]:
    """(code, label) pairs of a vocabulary, in its order, for a select list."""
    return [(code, gettext(text)) for code, text in _LABELS.get(kind, {}).items()]


def register(kind: str, labels: dict[str, str]) -> None:
    """Add or extend a vocabulary (its texts marked with N_ where they are defined)."""
    _LABELS.setdefault(kind, {}).update(labels)
