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
from typing import Any, NamedTuple

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
from pv.exports.xlsx_layout import A4_UNITS, Column
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
    _order: list[int] | None = field(init=False, repr=False, default=None)
    _printed: int = field(init=False, repr=False, default=0)
    _relation_heads: list[str] = field(init=False, repr=False, default_factory=list)
    _action_heads: list[str] = field(init=False, repr=False, default_factory=list)

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
        """The listing's columns: first those printed (they fit an A4 landscape page at
        8 pt: PRINTED_UNITS), then those on screen only; `values` orders a row alike."""
        natural = self._natural()
        if narrative:
            natural.append(Column(_("Narrative"), text="wrap", cap=80, printed=False, grows=False))
        order = self.order(len(natural))
        return [natural[i] for i in order]

    def order(self, count: int | None = None) -> list[int]:
        """Positions of the natural columns, printed first (computed once per plan)."""
        if self._order is None:
            natural = self._natural()
            printed = [c.printed for c in natural]
            # Too wide for the page (many study drugs): the least needed printed columns
            # go to the screen-only part, actions first, then relationships after the
            # first drug's, then the site (it starts the subject id in most studies).
            for i in self._demotable(natural):
                if sum(c.cap for c, p in zip(natural, printed, strict=True) if p) <= A4_UNITS:
                    break
                printed[i] = False
            self._order = [i for i, p in enumerate(printed) if p] + [
                i for i, p in enumerate(printed) if not p
            ]
            self._printed = sum(printed)
        if count is not None and count > len(self._order):
            return self._order + list(range(len(self._order), count))
        return self._order

    @property
    def printed_count(self) -> int:
        self.order()
        return self._printed

    def _demotable(self, natural: list[Column]) -> list[int]:
        heads = [c.header for c in natural]
        actions = [i for i, h in enumerate(heads) if h in self._action_heads]
        relations = [i for i, h in enumerate(heads) if h in self._relation_heads][1:]
        return actions[::-1] + relations[::-1] + [heads.index(_("Site"))]

    def _natural(self) -> list[Column]:
        """Every column, in the order `_natural_values` fills them."""
        self._relation_heads = [_("Causality: %(drug)s", drug=d.name) for d in self.drugs]
        self._action_heads = [_("Action: %(drug)s", drug=d.name) for d in self.drugs]
        cols = [Column(_("Site"), cap=4, min=4), Column(_("Subject"), text="wrap", cap=13)]
        if self.view.by_arm:
            cols.append(Column(_("Arm"), text="wrap", cap=12))
        cols += [
            Column(_("Age"), number="int", cap=4, min=4),
            Column(_("Sex"), cap=4, min=4),
            Column(_("First dose"), cap=11, printed=False),
            Column(_("Verbatim term"), text="wrap", cap=13),
            Column(_("Coded term"), text="wrap", cap=13),
            Column(_("System organ class"), text="wrap", cap=40, printed=False),
            Column(_("Onset"), cap=15),
            Column(_("Study day"), number="int", cap=6),
            Column(_("End date / ongoing"), cap=15),
            Column(_("Duration (days)"), number="int", cap=9, printed=False),
            Column(_("CTCAE grade"), number="int", cap=7),
        ]
        if self.severity:
            cols.append(Column(_("Severity"), text="wrap", cap=8))
        cols += [
            Column(_("Serious"), cap=8),
            Column(_("Serious criteria"), text="wrap", cap=16, printed=False),
        ]
        cols += [Column(h, text="wrap", cap=11) for h in self._relation_heads]
        cols += [Column(h, text="wrap", cap=12) for h in self._action_heads]
        if self.pooled_drugs:
            cols += [
                Column(_("Related to any study drug"), text="wrap", cap=10),
                Column(_("Any study drug withdrawn"), text="wrap", cap=11),
            ]
        cols += [
            Column(_("Outcome"), text="wrap", cap=12),
            Column(_("Treatment given"), text="wrap", cap=40, printed=False),
            Column(_("AESI"), text="wrap", cap=40, printed=False),
            Column(_("TEAE"), cap=6),
            # Electronic signatures of the record (meaning, printed name, UTC time, version)
            Column(_("Signatures"), text="wrap", cap=60, printed=False),
        ]
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
    """One listing row (without the narrative) in the order of `plan.columns()`; `rel`,
    `acn`: relationship, action per drug."""
    row = _natural_values(r, plan, scope, rel, acn)
    return [row[i] for i in plan.order()]


def _natural_values(
    r: Any, plan: ListingPlan, scope: Scope, rel: dict[str, Any], acn: dict[str, Any]
) -> list[Any]:
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
    aesi: dict[str, SheetStream],
    checksum: Checksum,
    narrative: bool,
    narratives: SheetStream | None = None,
    fatal: dict[int, list[FatalEvent]] | None = None,
) -> None:
    """Stream every event in scope to its listings and into the checksum; the SAE listing
    carries the narrative when `narrative` (not in the open session: investigators'
    narratives name the treatment received), on screen, and `narratives` prints them.
    `fatal` collects each subject's fatal events for the deaths listing."""
    for stream in (all_events, serious, *aesi.values()):
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
        if r.aeser:
            full, more = row, cells
            if narrative:
                full = [*row, r.narrative]
                more = cells + serious.encode([r.narrative], start=len(row))
            serious.add(full, cells=more)
            if narratives is not None:
                narratives.add(_narrative_values(r, plan))
        if fatal is not None and r.id in scope.fatal:
            fatal.setdefault(r.sid, []).append(
                FatalEvent(r.aedecod or r.aeterm, iso_value(r.aestdtc), r.aetoxgr, r.narrative)
            )
        if r.aesi:
            for key in r.aesi.split(","):
                listing = aesi.get(key.strip())
                if listing is not None:
                    listing.add(row, cells=cells)


# -- SAE narratives (closed session): the narrative printed, one row per serious event ------


def narrative_columns(view: ArmView) -> list[Column]:
    cols = [Column(_("Site"), cap=5, min=4), Column(_("Subject"), text="wrap", cap=13)]
    if view.by_arm:
        cols.append(Column(_("Arm"), text="wrap", cap=12))
    cols += [
        Column(_("Coded term"), text="wrap", cap=16),
        Column(_("Onset"), cap=16),
        Column(_("CTCAE grade"), number="int", cap=7),
        Column(_("Serious criteria"), text="wrap", cap=16),
        Column(_("Outcome"), text="wrap", cap=14),
        Column(_("Narrative"), text="wrap", cap=74, min=40),
    ]
    return cols


def _narrative_values(r: Any, plan: ListingPlan) -> list[Any]:
    out: list[Any] = [r.site, r.usubjid]
    if plan.view.by_arm:
        out.append(plan.view.label(r.arm))
    criteria = "; ".join(label for at, label in plan.criteria if r[at]) or None
    outcome = plan.shown("outcome", r.aeout)
    return [*out, r.aedecod, iso_value(r.aestdtc), r.aetoxgr, criteria, outcome, r.narrative]


# -- Deaths: one row per subject who died (DM death flag, or a fatal event in scope) --------


class FatalEvent(NamedTuple):
    term: str | None
    onset: Any
    grade: int | None
    narrative: str | None


def death_columns(view: ArmView, narrative: bool) -> list[Column]:
    cols = [Column(_("Site"), cap=5, min=4), Column(_("Subject"), text="wrap", cap=13)]
    if view.by_arm:
        cols.append(Column(_("Arm"), text="wrap", cap=12))
    cols += [
        Column(_("Age"), number="int", cap=4, min=4),
        Column(_("Sex"), cap=4, min=4),
        Column(_("First dose"), cap=11),
        Column(_("Last dose"), cap=11),
        Column(_("Date of death"), cap=11),
        Column(_("Study day"), number="int", cap=6),
        Column(_("Days after last dose"), number="int", cap=7),
        Column(_("Primary cause of death"), text="wrap", cap=20),
        Column(_("Fatal adverse events"), text="wrap", cap=28),
    ]
    if narrative:
        cols.append(Column(_("Narrative"), text="wrap", cap=40))
    return cols


def death_rows(
    subjects: Any,
    arm_labels: list[str],
    plan: ListingPlan,
    fatal: dict[int, list[FatalEvent]],
    narrative: bool,
) -> Iterator[list[Any]]:
    """Subjects who died by the cut-off (DM: DTHFL, DTHDTC on or before it or unknown: the
    loader's `dm_died`, as DTHT01 counts them) or have a fatal event in scope, by site and
    subject; dates as collected (partial: text)."""
    columns = set(subjects.columns)
    rows = []
    for s in subjects.itertuples(index=False):
        events = fatal.get(int(s.id), [])
        when = _text(getattr(s, "death_date", None)) if "death_date" in columns else None
        if not bool(s.dm_died) and not events:
            continue
        rows.append((str(s.site), str(s.usubjid), s, events, when))
    rows.sort(key=lambda x: (x[0].encode(), x[1].encode()))
    for site, usubjid, s, events, when in rows:
        first, last = _epoch_date(s.first_dose), _epoch_date(s.last_dose)
        death = iso_value(when) if when else None
        day = _day(death)
        out: list[Any] = [site, usubjid]
        if plan.view.by_arm:
            pos = int(s.arm)
            out.append(plan.view.label(arm_labels[pos]) if 0 <= pos < len(arm_labels) else None)
        cause = getattr(s, "death_cause", None) if "death_cause" in columns else None
        out += [
            _int(s.age),
            plan.shown("sex", s.sex if isinstance(s.sex, str) else None),
            first,
            last,
            death,
            study_day(first, day) if first is not None and day is not None else None,
            (day - last).days if last is not None and day is not None else None,
            cause if isinstance(cause, str) and cause else None,
            "\n".join(_fatal_text(e) for e in events) or None,
        ]
        if narrative:
            out.append("\n\n".join(e.narrative for e in events if e.narrative) or None)
        yield out


def _fatal_text(e: FatalEvent) -> str:
    onset = e.onset.isoformat() if isinstance(e.onset, date | datetime) else e.onset
    return _("%(term)s (onset %(onset)s, grade %(grade)s)", term=e.term or "",
             onset=onset or "?", grade=e.grade if e.grade is not None else "?")  # fmt: skip


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return int(value)


def _epoch_date(day: Any) -> date | None:
    if day is None or day != day:
        return None
    return date.fromordinal(int(day) + EPOCH)
