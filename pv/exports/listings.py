"""Adverse-event listings (AEL02-style, domain.md §7): all AEs, SAEs, deaths, each AESI.

The events in scope are those of the analysis (`StudyData.events`: not drafts, analysis
date on or before the cut-off), so the listings and the tables count the same events;
the TEAE flag and "fatal" come from the analysis layer. Rows are read with one Core
select, in chunks, sorted by site, subject, onset (as recorded) and AESEQ, and each row
goes to every listing it belongs to in the same pass. Dates are real dates; partial
dates stay text as collected (xlsx_safe).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from pv import i18n
from pv.analysis.aet01 import fatal
from pv.analysis.data import StudyData
from pv.analysis.teae import EPOCH
from pv.events.models import AdverseEvent
from pv.exports.arms import ArmView, StudyDrug
from pv.exports.checksum import EVENT_FIELDS, Checksum, text_order
from pv.exports.styles import GRADE3_FILL, SERIOUS_FILL
from pv.exports.xlsx_layout import Column
from pv.exports.xlsx_safe import iso_value
from pv.exports.xlsx_stream import SheetStream
from pv.exposure.derive import study_day
from pv.i18n import N_
from pv.i18n import gettext as _
from pv.labels import label
from pv.review.signing import study_signature_lines
from pv.study.models import Arm, Site, Subject

CHUNK = 5000
CRITERIA = (
    ("aesdth", N_("Death")),
    ("aeslife", N_("Life-threatening")),
    ("aeshosp", N_("Hospitalization")),
    ("aesdisab", N_("Disability")),
    ("aescong", N_("Congenital anomaly")),
    ("aesmie", N_("Medically important")),
)
YES, NO = N_("Yes"), N_("No")
YES_NO = {True: YES, False: NO, None: None}  # msgids: ListingPlan translates them once
JSON_FIELDS = ("aerel", "aeacn")
FIRST_FIELD = 7  # position of EVENT_FIELDS in an event row
_REL_AT, _ACN_AT = (2 + EVENT_FIELDS.index(f) for f in JSON_FIELDS)  # in a checksum record
_CRITERIA_AT = [(FIRST_FIELD + EVENT_FIELDS.index(key), label) for key, label in CRITERIA]


@dataclass
class ListingPlan:
    """The columns of the event listings for one session."""

    view: ArmView
    drugs: list[StudyDrug]  # drugs with their own relationship / action columns
    pooled_drugs: bool  # some drugs hidden: add "any study drug" columns
    severity: bool  # some events carry a severity (imported data) instead of a grade
    # Words written into the rows, translated once (in the language of the workbook).
    yes_no: dict[bool | None, str | None] = field(init=False, repr=False)
    ongoing: str = field(init=False, repr=False)
    criteria: list[tuple[int, str]] = field(init=False, repr=False)

    # Outside English, coded values (sex, outcome, relationship, action) are shown by their
    # labels (pv.labels); the English workbook keeps the CDISC codes as collected.
    coded: bool = field(init=False, repr=False)
    _labels: dict[tuple[str, Any], Any] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.yes_no = {k: (None if v is None else _(v)) for k, v in YES_NO.items()}
        self.ongoing = _("Ongoing")
        self.criteria = [(at, _(label)) for at, label in _CRITERIA_AT]
        self.coded = i18n.current() != i18n.DEFAULT

    def shown(self, kind: str, code: Any) -> Any:
        """A coded value as this workbook shows it (its label outside English)."""
        if not self.coded or code is None or code == "":
            return code
        found = self._labels.get((kind, code))
        if found is None:
            found = self._labels[(kind, code)] = label(kind, code)
        return found

    def columns(self, narrative: bool = False) -> list[Column]:
        cols = [Column(_("Site"), cap=8), Column(_("Subject"), cap=20)]
        if self.view.by_arm:
            cols.append(Column(_("Arm"), text="wrap", cap=18))
        cols += [
            Column(_("Age"), number="int", cap=5),
            Column(_("Sex"), cap=5),
            Column(_("First dose"), cap=11),
            Column(_("Verbatim term"), text="wrap", cap=26),
            Column(_("Coded term"), text="wrap", cap=22),
            Column(_("System organ class"), text="wrap", cap=24),
            Column(_("Onset"), cap=16),
            Column(_("Study day"), number="int", cap=7),
            Column(_("End date / ongoing"), cap=16),
            Column(_("Duration (days)"), number="int", cap=9),
            Column(_("CTCAE grade"), number="int", cap=7),
        ]
        if self.severity:
            cols.append(Column(_("Severity"), cap=10))
        cols += [Column(_("Serious"), cap=8), Column(_("Serious criteria"), text="wrap", cap=16)]
        cols += [
            Column(_("Relationship: %(drug)s", drug=d.name), text="wrap", cap=17)
            for d in self.drugs
        ]
        cols += [
            Column(_("Action: %(drug)s", drug=d.name), text="wrap", cap=17) for d in self.drugs
        ]
        if self.pooled_drugs:
            cols += [
                Column(_("Related to any study drug"), cap=9),
                Column(_("Any study drug withdrawn"), cap=9),
            ]
        cols += [
            Column(_("Outcome"), text="wrap", cap=20),
            Column(_("Treatment given"), text="wrap", cap=22),
            Column(_("AESI"), text="wrap", cap=20),
            Column(_("TEAE"), cap=6),
            # Electronic signatures of the record (meaning, printed name, UTC time, version)
            Column(_("Signatures"), text="wrap", cap=40),
        ]
        if narrative:
            cols.append(Column(_("Narrative"), text="wrap", cap=60))
        return cols

    def highlight(self, stream: SheetStream) -> None:
        """Serious rows and grade >= 3 (or severe) rows, by conditional formatting rules."""
        heads = [c.header for c in stream.columns]
        row = stream.first_data_row()
        serious = stream.letters[heads.index(_("Serious"))]
        grade = stream.letters[heads.index(_("CTCAE grade"))]
        yes = _(YES).replace('"', '""')
        stream.highlight(f'${serious}{row}="{yes}"', SERIOUS_FILL)
        severe = f"AND(ISNUMBER(${grade}{row}),${grade}{row}>=3)"
        if self.severity:
            sev = stream.letters[heads.index(_("Severity"))]
            severe = f'OR({severe},${sev}{row}="SEVERE")'
        stream.highlight(severe, GRADE3_FILL)


@dataclass
class Scope:
    """The analysis' view of the events: TEAE flag, fatal flag and first dose per subject."""

    teae: dict[int, bool]
    fatal: set[int]
    first_dose: dict[int, date]
    aesi_labels: dict[str, str]
    aesi_text: dict[str, str] = field(default_factory=dict)  # "a,b" -> "Label A, Label B"
    signatures: dict[int, str] = field(default_factory=dict)  # event id -> one line each
    _json: dict[Any, dict[str, Any]] = field(default_factory=dict)

    def json(self, text: Any) -> dict[str, Any]:
        """A JSON column's value (text, or already parsed by the driver) as a dict."""
        if not text:
            return {}
        if not isinstance(text, str):
            return dict(text)
        found = self._json.get(text)
        if found is None:
            found = self._json[text] = json.loads(text)
        return found

    @classmethod
    def of(cls, data: StudyData, aesi_labels: dict[str, str]) -> Scope:
        ev = data.events
        ids = ev["id"].to_numpy(np.int64)
        dead = ids[fatal(ev)] if len(ev) else ids
        subj = data.subjects
        first = {
            int(sid): date.fromordinal(int(day) + EPOCH)
            for sid, day in zip(subj["id"], subj["first_dose"], strict=True)
            if day == day
        }
        return cls(
            dict(zip(ids.tolist(), ev["te"].tolist(), strict=True)),
            set(dead.tolist()),
            first,
            aesi_labels,
        )


def event_rows(conn: Connection, study_id: str) -> Iterator[sa.Row]:
    """Every non-draft event of the study with its subject, site and arm, in listing order."""
    ae = AdverseEvent
    # JSON columns as their text: parsed once per distinct value (json_value), not per row.
    fields = [
        sa.cast(getattr(ae, f), sa.Text).label(f) if f in JSON_FIELDS else getattr(ae, f)
        for f in EVENT_FIELDS
    ]
    stmt = (
        sa.select(
            col(ae.id),
            col(Site.code).label("site"),
            col(Subject.usubjid),
            col(Subject.id).label("sid"),
            col(Arm.label).label("arm"),
            col(Subject.age),
            col(Subject.sex),
            *fields,
        )
        .join(Subject, col(Subject.id) == col(ae.subject_id))
        .join(Site, col(Site.id) == col(Subject.site_id))
        .outerjoin(Arm, col(Arm.id) == col(Subject.arm_id))
        .where(col(ae.study_id) == study_id, col(ae.status) != "draft")
        .order_by(
            text_order(conn, col(Site.code)),
            text_order(conn, col(Subject.usubjid)),
            sa.nulls_last(text_order(conn, col(ae.aestdtc))),
            col(ae.aeseq),
        )
    )
    result = conn.execution_options(yield_per=CHUNK).execute(stmt)
    for part in result.partitions(CHUNK):
        yield from part


def values(
    r: Any, plan: ListingPlan, scope: Scope, rel: dict[str, Any], acn: dict[str, Any]
) -> list[Any]:
    """One listing row (without the narrative); `rel`, `acn`: relationship, action per drug."""
    first = scope.first_dose.get(r.sid)
    onset, end = iso_value(r.aestdtc), iso_value(r.aeendtc)
    on, off = _day(onset), _day(end)
    out: list[Any] = [r.site, r.usubjid]
    if plan.view.by_arm:
        out.append(plan.view.label(r.arm))
    out += [
        r.age,
        plan.shown("sex", r.sex),
        first,
        r.aeterm,
        r.aedecod,
        r.aebodsys,
        onset,
        study_day(first, on) if first is not None and on is not None else None,
        plan.ongoing if r.ongoing else end,
        (off - on).days + 1 if on is not None and off is not None else None,
        r.aetoxgr,
    ]
    if plan.severity:
        out.append(r.aesev)
    yes_no = plan.yes_no
    out.append(yes_no[r.aeser])
    out.append("; ".join(label for at, label in plan.criteria if r[at]) or None)
    out += [plan.shown("relationship", rel.get(d.key)) for d in plan.drugs]
    out += [plan.shown("action", acn.get(d.key)) for d in plan.drugs]
    if plan.pooled_drugs:
        out += [yes_no[bool(r.related)], yes_no[bool(r.drug_withdrawn)]]
    outcome = plan.shown("outcome", r.aeout)
    out += [outcome, r.aecontrt, _aesi(r.aesi, scope), yes_no[scope.teae[r.id]]]
    out.append(scope.signatures.get(r.id))
    return out


def _day(value: Any) -> date | None:
    if type(value) is datetime:
        return value.date()
    return value if type(value) is date else None


def _aesi(keys: str | None, scope: Scope) -> str | None:
    if not keys:
        return None
    found = scope.aesi_text.get(keys)
    if found is None:
        labels = scope.aesi_labels
        names = [labels.get(k.strip(), k.strip()) for k in keys.split(",") if k.strip()]
        found = scope.aesi_text[keys] = ", ".join(names)
    return found


def write_listings(
    conn: Connection,
    study_id: str,
    plan: ListingPlan,
    scope: Scope,
    *,
    all_events: SheetStream,
    serious: SheetStream,
    deaths: SheetStream,
    aesi: dict[str, SheetStream],
    checksum: Checksum,
    narrative: bool,
) -> None:
    """Stream every event in scope to its listings and into the checksum; the SAE and death
    listings carry the narrative when `narrative` (not in the open session: investigators'
    narratives name the treatment received)."""
    for stream in (all_events, serious, deaths, *aesi.values()):
        plan.highlight(stream)
    with Session(bind=conn) as session:  # the few signed events, in the workbook's language
        scope.signatures = study_signature_lines(session, study_id)
    in_scope = scope.teae
    for r in event_rows(conn, study_id):
        if r.id not in in_scope:
            continue
        rel, acn = scope.json(r.aerel), scope.json(r.aeacn)
        record = [r.site, r.usubjid, *r[FIRST_FIELD:]]
        record[_REL_AT], record[_ACN_AT] = rel, acn
        checksum.add("events", record)
        row = values(r, plan, scope, rel, acn)
        cells = all_events.encode(row)  # encoded once, for every listing of the event
        all_events.add(row, cells=cells)
        dead = r.id in scope.fatal
        if r.aeser or dead:
            full, more = row, cells
            if narrative:
                full = [*row, r.narrative]
                more = cells + serious.encode([r.narrative], start=len(row))
            if r.aeser:
                serious.add(full, cells=more)
            if dead:
                deaths.add(full, cells=more)
        if r.aesi:
            for key in r.aesi.split(","):
                listing = aesi.get(key.strip())
                if listing is not None:
                    listing.add(row, cells=cells)
