"""An event's history as a person reads it: field labels instead of column names, values as
the screens show them (Yes/No, outcome and causality labels, AESI groupings), people by
name, coded terms by name, per-drug values by drug name, and none of the internal ids (the
page itself names the study, subject and site). Administrators can still open each entry's
stored record (`raw_record`).

`readable_history(entries)` looks up, in one query each, the users, terms, drugs and RSI
versions the entries mention, in the database session the entries were loaded with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from pv.audit.models import AuditEntry
from pv.auth.models import User
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.labels import label, labels_of, register
from pv.review.models import RsiVersion
from pv.signatures.service import MEANINGS
from pv.study.models import Drug
from pv.terminology.models import Term, TerminologyRelease

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
    "aeawaredtc": N_("Date the site became aware"),
    "ongoing": N_("Ongoing"),
    "aeout": N_("Outcome"),
    "aerel": N_("Relationship to the study drugs"),
    "aeacn": N_("Action taken with the study drugs"),
    "aecontrt": N_("Treatment given"),
    "narrative": N_("Narrative"),
    "aesi": N_("Special interest"),
    "preexisting": N_("Present before the first dose"),
    "worsened_dtc": N_("Worsened on"),
    # The sponsor's assessment (its own history on the review page).
    "awareness_date": N_("Awareness date (day 0)"),
    "seriousness_confirmed": N_("Seriousness confirmed"),
    "causality": N_("Causality (WHO-UMC)"),
    "rsi_expectedness": N_("Expectedness by the reference safety information"),
    "expectedness": N_("Expectedness"),
    "override_reasons": N_("Reason for a different expectedness"),
    "rsi_versions": N_("Reference safety information used"),
    "suspect_drugs": N_("Suspect drugs"),
    "is_susar": N_("SUSAR"),
    "fatal_or_life_threatening": N_("Fatal or life-threatening"),
    # An electronic signature (action "sign", pv.review.signing).
    "meaning": N_("Meaning of the signature"),
    "record_version": N_("Version signed"),
    "record_digest": N_("Digest of the version signed (SHA-256)"),
}
# Internal ids and values derived from others: the history shows what a person entered.
HIDDEN = frozenset({"study_id", "subject_id", "site_id", "term_id", "version", "aeseq",
                    "related", "drug_withdrawn", "sponsor_te_flag", "event_version",
                    "assessed_by", "assessed_by_name", "signature"})  # fmt: skip
# Per-drug values ({drug key: code}) and the vocabulary of their codes (None: free text).
PER_DRUG: dict[str, str | None] = {
    "aerel": "relationship",
    "aeacn": "action",
    "causality": "causality",
    "rsi_expectedness": "expectedness",
    "expectedness": "expectedness",
    "override_reasons": None,
}
EMPTY = "∅"
# Signatures (the other actions: events_pages).
register("audit_action", {"sign": N_("sign"), "sign_failed": N_("sign_failed")})
register("signature_meaning", MEANINGS)


class Change(NamedTuple):
    field: str  # the label
    old: str | None  # None: the entry set the value (a new event)
    new: str


@dataclass
class Names:
    """What the entries of one history mention, by name."""

    users: dict[str, str] = field(default_factory=dict)  # username -> "Full Name (username)"
    terms: dict[str, str] = field(default_factory=dict)  # code -> term name
    drugs: dict[str, str] = field(default_factory=dict)  # drug key -> drug name
    rsi: dict[int, str] = field(default_factory=dict)  # RsiVersion.id -> its label

    def user(self, username: str) -> str:
        return self.users.get(username, username)

    def drug(self, key: str) -> str:
        return self.drugs.get(key, key)

    def term(self, code: Any) -> str:
        name = self.terms.get(str(code))
        return f"{name} ({code})" if name else str(code)


NO_NAMES = Names()


class HistoryRow(NamedTuple):
    entry: AuditEntry
    who: str  # the actor's full name with the username
    changes: list[Change]


def field_label(name: str) -> str:
    if name in FIELDS and not FIELDS[name]:
        return label("criterion", name)
    return _(FIELDS[name]) if name in FIELDS else name


def shown(name: str, value: Any, names: Names = NO_NAMES) -> str:
    """A stored value as the screens show it."""
    if value is None or value == "" or value == {} or value == []:
        return EMPTY
    if isinstance(value, bool):
        return label("yesno", value)
    if name == "status":
        return label("status", value)
    if name == "aeout":
        return label("outcome", value)
    if name == "aesi":
        return labels_of("aesi", str(value))
    if name == "meaning":
        return label("signature_meaning", value)
    if name == "aelltcd":
        return names.term(value)
    if name in PER_DRUG and isinstance(value, dict):
        kind = PER_DRUG[name]
        return "; ".join(
            f"{names.drug(key)}: {label(kind, v) if kind else v}"
            for key, v in sorted(value.items(), key=lambda kv: names.drug(kv[0]).lower())
        )
    if name == "rsi_versions" and isinstance(value, dict):
        return "; ".join(
            f"{names.drug(key)}: {names.rsi.get(v, str(v)) if v is not None else _('none')}"
            for key, v in sorted(value.items(), key=lambda kv: names.drug(kv[0]).lower())
        )
    if name == "suspect_drugs" and isinstance(value, list):
        return ", ".join(sorted((names.drug(str(k)) for k in value), key=str.lower))
    return str(value)


def changes(action: str, recorded: dict[str, Any], names: Names = NO_NAMES) -> list[Change]:
    """The readable changes of one audit entry (`{field: [old, new]}`)."""
    order = {name: i for i, name in enumerate(FIELDS)}
    # A new code and its term name change together: one line, "Lung infection (10061229)".
    merged = "aelltcd" in recorded and "aedecod" in recorded
    out = []
    for name in sorted(recorded, key=lambda n: (order.get(n, len(order)), n)):
        if name in HIDDEN or (merged and name == "aedecod"):
            continue
        old, new = recorded[name]
        created = action in ("create", "submit", "sign") and old is None
        if created and new in (None, "", {}, [], False):
            continue  # a new event: only what was filled in
        title = field_label("aedecod" if merged and name == "aelltcd" else name)
        out.append(Change(title, None if created else shown(name, old, names),
                          shown(name, new, names)))  # fmt: skip
    return out


def _mentioned(entries: Sequence[AuditEntry]) -> tuple[set[str], set[str], set[int]]:
    codes: set[str] = set()
    drugs: set[str] = set()
    rsi: set[int] = set()
    for entry in entries:
        for name, pair in (entry.changes or {}).items():
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                continue
            for value in pair:
                if name == "aelltcd" and value:
                    codes.add(str(value))
                elif isinstance(value, dict) and (name in PER_DRUG or name == "rsi_versions"):
                    drugs.update(map(str, value))
                    if name == "rsi_versions":
                        rsi.update(v for v in value.values() if isinstance(v, int))
                elif name == "suspect_drugs" and isinstance(value, list):
                    drugs.update(map(str, value))
    return codes, drugs, rsi


def lookup_names(session: Session, entries: Sequence[AuditEntry]) -> Names:
    """The users, terms, drugs and RSI versions the entries mention: one query each."""
    names = Names()
    usernames = {e.actor for e in entries if e.actor}
    if usernames:
        for username, full_name in session.exec(
            select(User.username, User.full_name).where(col(User.username).in_(usernames))
        ):
            if full_name and full_name != username:
                names.users[username] = f"{full_name} ({username})"
    codes, drug_keys, rsi_ids = _mentioned(entries)
    if codes:
        rows = session.exec(
            select(Term.code, Term.term, TerminologyRelease.name)
            .join(TerminologyRelease, col(TerminologyRelease.id) == Term.release_id)
            .where(col(Term.code).in_(codes))
            .order_by(col(TerminologyRelease.id))
        )
        for code, term, release in rows:
            # CTCAE first (the trial codes with it); a MedDRA name only when CTCAE lacks it
            if code not in names.terms or release == "CTCAE":
                names.terms[code] = term
    studies = {e.study_id for e in entries if e.study_id}
    if drug_keys and studies:
        for key, name in session.exec(
            select(Drug.key, Drug.name).where(
                col(Drug.study_id).in_(studies), col(Drug.key).in_(drug_keys)
            )
        ):
            names.drugs[key] = name
    if rsi_ids:
        for rid, rsi_label in session.exec(
            select(RsiVersion.id, RsiVersion.label).where(col(RsiVersion.id).in_(rsi_ids))
        ):
            if rid is not None:
                names.rsi[rid] = rsi_label
    return names


def readable_history(entries: Iterable[AuditEntry]) -> list[HistoryRow]:
    """Each entry with its actor and its changes in words (names looked up in the session
    the entries came from; without one, codes and keys are shown as stored)."""
    entries = list(entries)
    session = object_session(entries[0]) if entries else None
    names = lookup_names(session, entries) if isinstance(session, Session) else NO_NAMES
    return [HistoryRow(e, names.user(e.actor), changes(e.action, e.changes, names))
            for e in entries]  # fmt: skip


def raw_record(entry: AuditEntry) -> str:
    """The entry as stored, for administrators: JSON, indented."""
    stored = {
        "id": entry.id,
        "at": entry.at.isoformat() if entry.at else None,
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "study_id": entry.study_id,
        "site_id": entry.site_id,
        "changes": entry.changes,
        "reason": entry.reason,
    }
    return json.dumps(stored, indent=2, ensure_ascii=False, sort_keys=False, default=str)
