"""The DSUR's line listings and tabulations (ICH E2F) as an xlsx workbook.

    build_dsur(engine, "NCT04660565", date(2021, 1, 1), date(2021, 12, 31), masked=False,
               language="en") -> bytes

Three sheets, in the DSMB workbook's conventions (pv.exports: the styles of styles.py,
every cell through xlsx_safe.safe_cell so that text stays text, A4 landscape with the
study in the page header, 8-point Arial, Chinese text as stored):

1. Cover: the study, NCT number, sponsor, the reporting period and data lock point, what
   each sheet holds and the rules below.
2. Cumulative SAE tabulation (E2F guideline §3.7.3 = DSUR section 7.3, "Cumulative
   Summary Tabulations of Serious Adverse Events"; the guideline's §2.6 is the reference
   safety information and §2.7 the format, not these listings).
3. Interval line listing of SARs (E2F §3.7.2 = DSUR section 7.2, "Line Listings of
   Serious Adverse Reactions during the Reporting Period").

Rules (stated on the cover too):

- In scope: adverse events of the study that are not drafts and are serious as recorded
  (AESER; the sponsor may not downgrade an investigator's seriousness, so a sponsor's
  "seriousness not confirmed" does not take an event out).
- When the sponsor received the case ("received"): the awareness date of the sponsor's
  assessment (day 0 of its clocks, pv.review), else the day the site submitted the event
  (AdverseEvent.submitted_at, UTC), else the day the record was created (an import that
  was never submitted). The reporting period and the data lock point are judged on that
  date, as E2F places cases by the sponsor's knowledge ("SAEs reported ... from the DIBD
  to the data lock point"); an event's onset never moves it in or out. The received date
  is always a complete date, so partial onset dates never decide scope.
- Cumulative tabulation: every in-scope event received on or before the data lock point
  (the study start is the development international birth date here: no earlier data).
  It counts EVENTS, not subjects: a subject with two serious pneumonias counts 2 under
  Pneumonia. Sources: E2F §3.7.3 asks for a "cumulative summary tabulation of SAEs"
  organised by SOC for the investigational drug and the comparator arms (active,
  placebo, blinded), and its appendix's example tabulation gives numbers of serious
  adverse events per term (the guideline's text was not in the reference search corpus;
  this is from the guideline as published, EMA/CHMP/ICH/309348/2008). The safety
  databases that produce DSURs agree: Oracle Argus Safety's DSUR "Summary Tabulations of
  Serious Adverse Events" give "row-level totals for Total event counts for a preferred
  term including investigational, blinded, comparator, placebo and No Study Drug Given"
  and "subtotal per System Organ Class" per column, and count "Total Number of Events:
  the sum of all events terms" separately from distinct cases and patients
  (docs.oracle.com/en/industries/life-sciences/argus-safety/8.4.1/aeoan/totals.html and
  summary-counts.html); Veeva Vault Safety's "Cumulative Tabulation of Serious Adverse
  Events from Clinical Trials" is the same table. Rows: system organ class (AEBODSYS)
  then the coded term (AEDECOD: the CTCAE v5.0 term, a MedDRA LLT, or the MedDRA PT of
  an imported study); an uncoded event is listed under "Not coded" by its verbatim term.
  Terms are alphabetical within a SOC, as Argus prints them ("LLT or PT is arranged in
  the alphabetical order within an SOC"); SOCs are alphabetical too (case-insensitive):
  MedDRA's internationally agreed SOC order, which Argus uses, is not applied because
  CTCAE terms carry SOC names only. Each SOC row is the sum of its term rows (events, so
  the sum is exact, unlike a subject count); the last row totals every SOC.
  Columns: each arm (investigational and comparator arms, the comparator marked), "No
  arm" when an event's subject has none (Argus's "No Study Drug Given"), and Total.
  When the reader may not see arms (`masked`: a blinded study and a user without the
  unblinded permission), one pooled "Blinded" column replaces the arms (E2F's "blinded"
  column); "No arm" stays (not randomized says nothing of the treatment:
  pv.blinding.policy), then Total.
- Interval line listing of serious adverse reactions: in-scope events received within
  [start, end] (both inclusive) that are suspected: the sponsor's causality is WHO-UMC
  certain, probable or possible for any study drug; when the sponsor has not assessed the
  event yet, the investigator's relationship is RELATED or POSSIBLY RELATED for any study
  drug (AdverseEvent.related). One row per event (reaction), ordered by SOC, term, onset
  (ISO text order: a partial onset "2021-03" sorts before the complete dates of March
  2021; no onset last), then event id. Columns follow E2F's example line listing: study,
  case id (the ICSR case id: country-PVTRACKER-study-event) and subject, country, age,
  sex, arm (masked when blinded), suspect drug(s) with the daily dose at onset, route,
  dates of treatment (first dose to the last dose up to the data lock point), reaction
  (SOC, term, verbatim), onset, time to onset, outcome, seriousness criteria, causality
  per drug (investigator and sponsor), expectedness per suspect drug, SUSAR, received,
  comments.
- Partial dates: an onset is shown as collected ("2021-03" stays that text, never a
  date); time to onset (onset date minus the first dose date of any study drug, in days;
  0 = the day of the first dose, as E2B's "time interval between beginning of drug
  administration and start of reaction") is left empty for a partial or missing onset,
  and the comments say why. Doses "at onset" of a partial onset take the whole period
  ("2021-03": doses that began in March 2021 count as before it), as pv.icsr.build does.
- Masked (blinded) listing: the arm column reads "Blinded"; a study drug not given in
  every arm would reveal the arm, so it is named "blinded study drug" without dose,
  route, dates or per-drug causality; drugs given in every arm are shown. An event
  suspected only for such a drug still reveals, by being listed, that its subject
  received it, as the DSMB open session's listings say: kept, not hidden.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

import pv
from pv import labels
from pv.analysis.api import table_language
from pv.events.models import SERIOUS_CRITERIA, AdverseEvent, Status
from pv.exports import styles as st
from pv.exports.arms import StudyDrug
from pv.exports.book import save, sheet_name
from pv.exports.xlsx_layout import A4_UNITS, LINE_PT, lines, print_setup
from pv.exports.xlsx_safe import iso_value, safe_cell
from pv.exposure.models import Exposure
from pv.i18n import N_, ngettext, use
from pv.i18n import gettext as _
from pv.review.models import SUSPECTED, Assessment
from pv.study.models import Arm, ArmDrug, Drug, Site, Study, Subject
from pv.timeutil import utcnow

SENDER_CODE = "PVTRACKER"  # as pv.icsr.build: the case id of the event's ICSR
TAB_SHEET = N_("Cumulative SAE tabulation")
LIST_SHEET = N_("Interval line listing of SARs")
COVER_SHEET = N_("Cover")
NOT_CODED = N_("Not coded")
BLINDED = N_("Blinded")
BLINDED_DRUG = N_("blinded study drug")
HEADER_ROW = 4  # title, subtitle, blank, header: the DSMB workbook's tables
INVESTIGATOR_RELATED = frozenset({"RELATED", "POSSIBLY RELATED"})

RULE_SCOPE = N_(
    "In scope: adverse events that are not drafts and are serious as recorded (AESER). "
    "The sponsor cannot downgrade an investigator's seriousness."
)
RULE_RECEIVED = N_(
    "Received: the date the sponsor knew of the case: the awareness date of the sponsor's "
    "assessment, else the day the site submitted the event, else the day the record was "
    "created. The reporting period and the data lock point are judged on this date, "
    "never on the onset."
)
RULE_TABULATION = N_(
    "Cumulative tabulation (ICH E2F 3.7.3, DSUR section 7.3): serious adverse events "
    "received from the start of the study up to the data lock point, counted as EVENTS "
    "(not subjects), by system organ class and coded term (CTCAE v5.0 term or MedDRA PT "
    "as coded; uncoded events under 'Not coded' by verbatim term). System organ classes "
    "and terms are in alphabetical order; a SOC row is the sum of its terms."
)
RULE_LISTING = N_(
    "Interval line listing (ICH E2F 3.7.2, DSUR section 7.2): serious adverse reactions "
    "received within the reporting period (both dates included): the sponsor's causality "
    "is certain, probable or possible (WHO-UMC) for a study drug or, when the sponsor has "
    "not assessed the event yet, the investigator's is related or possibly related. One "
    "row per reaction, ordered by system organ class, term and onset."
)
RULE_PARTIAL = N_(
    "Partial dates (e.g. 2021-03) are shown as text exactly as collected. Time to onset "
    "(onset minus the first dose of any study drug, in days; 0 = the day of the first dose) "
    "is not computed for a partial or missing onset. A partial onset sorts before the "
    "complete dates of its month or year. Doses at onset of a partial onset include those "
    "begun within its period."
)
RULE_MASKED = N_(
    "Blinded: the reader may not see the arms. The tabulation pools every arm in one "
    "'Blinded' column (subjects without an arm stay under 'No arm'); the listing's arm reads "
    "'Blinded'; a study drug not given in every "
    "arm is named 'blinded study drug' without dose, route, dates or causality. An event "
    "suspected only for such a drug still implies, by being listed, that its subject "
    "received it: it is kept, not hidden."
)


@dataclass
class _Event:
    id: int
    usubjid: str
    subject_id: int
    arm_id: int | None
    country: str | None
    age: int | None
    sex: str | None
    soc: str
    term: str
    verbatim: str
    onset: str | None
    outcome: str | None
    criteria: list[str]
    aerel: dict[str, Any]
    related: bool
    received: date
    assessment: Assessment | None
    sar: bool = False


@dataclass
class Dsur:
    """What the workbook holds, as numbers and rows (the tests read them back too)."""

    columns: list[str]  # the count columns' headers, Total last
    tabulation: list[tuple[str, int, list[int]]] = field(
        default_factory=list
    )  # (label, level, counts)
    listing: list[list[Any]] = field(default_factory=list)


def received_date(event: AdverseEvent, assessment: Assessment | None) -> date:
    """The day the sponsor knew of the case (module docstring)."""
    if assessment is not None:
        return assessment.awareness_date
    moment = event.submitted_at or event.created_at
    return moment.date()


def is_sar(event: AdverseEvent, assessment: Assessment | None) -> bool:
    """A suspected serious adverse reaction: sponsor causality certain/probable/possible for
    any drug; not assessed yet: the investigator's related / possibly related."""
    if assessment is not None:
        return any(v in SUSPECTED for v in (assessment.causality or {}).values())
    return bool(event.related) or any(
        v in INVESTIGATOR_RELATED for v in (event.aerel or {}).values()
    )


def _onset_key(text: str | None) -> tuple[int, str]:
    return (1, "") if not text else (0, text)


def _before_onset(start: datetime, onset: str | None) -> bool:
    """Whether a dose began on or before the onset, compared at the onset's precision: a
    partial onset takes its whole period ("2021-03": doses begun in March 2021 count), a
    date its whole day; no onset: every dose."""
    if not onset:
        return True
    key = onset.strip()[:16]
    return start.isoformat(timespec="minutes")[: len(key)] <= key


def _complete(text: str | None) -> date | None:
    value = iso_value(text) if text else None
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _num(value: float) -> str:
    return f"{value:g}"


def build_dsur(
    session_or_engine: Session | Engine,
    study_id: str,
    start: date,
    end: date,
    *,
    masked: bool,
    language: str = "en",
) -> bytes:
    """The workbook's bytes. LookupError when the study does not exist, ValueError when
    `start` is after `end`."""
    if start > end:
        raise ValueError(
            _(
                "the reporting period starts (%(start)s) after it ends (%(end)s)",
                start=start.isoformat(),
                end=end.isoformat(),
            )
        )
    if isinstance(session_or_engine, Session):
        return _build(session_or_engine, study_id, start, end, masked, language)
    with Session(session_or_engine, expire_on_commit=False) as session:
        return _build(session, study_id, start, end, masked, language)


def _build(
    session: Session, study_id: str, start: date, end: date, masked: bool, language: str
) -> bytes:
    language = table_language(language)
    study = session.get(Study, study_id)
    if study is None:
        raise LookupError(_("no study %(study)s", study=study_id))
    with use(language):
        data = collect(session, study, start, end, masked=masked)
        wb = Workbook(write_only=True)
        book = st.StyleBook(wb)  # noqa: F841 (sets the default font)
        taken: set[str] = set()
        cover = wb.create_sheet(sheet_name(_(COVER_SHEET), taken))
        tab = wb.create_sheet(sheet_name(_(TAB_SHEET), taken))
        listing = wb.create_sheet(sheet_name(_(LIST_SHEET), taken))
        head = _("%(study)s  -  DSUR  -  confidential", study=study.id)
        foot = _(
            "Reporting period %(start)s to %(end)s; data lock point %(end)s",
            start=start.isoformat(),
            end=end.isoformat(),
        )
        _write_cover(cover, study, start, end, masked, data, (head, foot), tab.title, listing.title)
        _write_tabulation(tab, study, end, data, (head, foot))
        _write_listing(listing, study, start, end, data, (head, foot))
        out = io.BytesIO()
        save(wb, out)
        return out.getvalue()


# --- Data -----------------------------------------------------------------------------


def _drugs(session: Session, study_id: str, arm_ids: Iterable[int]) -> list[StudyDrug]:
    wanted = set(arm_ids)
    drugs = session.exec(select(Drug).where(Drug.study_id == study_id).order_by(col(Drug.name)))
    out = []
    for d in drugs:
        given = set(session.exec(select(ArmDrug.arm_id).where(ArmDrug.drug_id == d.id)))
        out.append(StudyDrug(id=int(d.id or 0), key=d.key, name=d.name,
                             in_every_arm=bool(wanted) and wanted <= given))  # fmt: skip
    return out


def collect(session: Session, study: Study, start: date, end: date, *, masked: bool) -> Dsur:
    """The tabulation's counts and the listing's rows (module docstring's rules)."""
    arms = list(
        session.exec(select(Arm).where(Arm.study_id == study.id).order_by(col(Arm.position)))
    )
    drugs = _drugs(session, study.id, [int(a.id or 0) for a in arms])
    arm_drugs: dict[int, set[int]] = defaultdict(set)
    for link in session.exec(
        select(ArmDrug).where(col(ArmDrug.arm_id).in_([a.id for a in arms] or [-1]))
    ):
        arm_drugs[link.arm_id].add(link.drug_id)
    rows = session.exec(
        select(AdverseEvent, Subject, Site)
        .join(Subject, col(Subject.id) == col(AdverseEvent.subject_id))
        .join(Site, col(Site.id) == col(AdverseEvent.site_id))
        .where(
            AdverseEvent.study_id == study.id,
            col(AdverseEvent.status) != Status.draft,
            col(AdverseEvent.aeser).is_(True),
        )
        .order_by(col(AdverseEvent.id))
    ).all()
    assessments = {
        a.event_id: a
        for a in session.exec(select(Assessment).where(Assessment.study_id == study.id))
    }
    events = []
    for ev, subj, site in rows:
        assessment = assessments.get(int(ev.id or 0))
        got = received_date(ev, assessment)
        if got > end:
            continue
        coded = bool(ev.aedecod)
        events.append(_Event(
            id=int(ev.id or 0), usubjid=subj.usubjid, subject_id=int(subj.id or 0),
            arm_id=subj.arm_id, country=site.country, age=subj.age, sex=subj.sex,
            soc=(ev.aebodsys or _(NOT_CODED)) if coded else _(NOT_CODED),
            term=(ev.aedecod or ev.aeterm) if coded else ev.aeterm, verbatim=ev.aeterm,
            onset=ev.aestdtc,
            outcome=ev.aeout, criteria=[c for c in SERIOUS_CRITERIA if getattr(ev, c)],
            aerel=dict(ev.aerel or {}), related=bool(ev.related), received=got,
            assessment=assessment, sar=is_sar(ev, assessment),
        ))  # fmt: skip

    # Tabulation columns: the arms (or one pooled "Blinded"), "No arm" when needed, Total.
    if masked:
        keys: list[Any] = ["blinded"]
        columns = [_(BLINDED)]
    else:
        keys = [a.id for a in arms]
        columns = [
            _("%(arm)s (comparator)", arm=a.label) if a.is_control else a.label for a in arms
        ]
    if any(e.arm_id is None for e in events):  # not randomized: says nothing of treatment
        keys.append(None)
        columns.append(_("No arm"))
    columns.append(_("Total"))
    data = Dsur(columns=columns)
    counts: dict[str, dict[str, Counter[Any]]] = defaultdict(lambda: defaultdict(Counter))
    for e in events:
        counts[e.soc][e.term]["blinded" if masked and e.arm_id is not None else e.arm_id] += 1

    def row(counter: Counter[Any]) -> list[int]:
        values = [counter.get(k, 0) for k in keys]
        return [*values, sum(counter.values())]

    grand: Counter[Any] = Counter()
    for soc in sorted(counts, key=lambda s: (s.casefold(), s)):
        terms = counts[soc]
        soc_total: Counter[Any] = Counter()
        for c in terms.values():
            soc_total.update(c)
        grand.update(soc_total)
        data.tabulation.append((soc, 0, row(soc_total)))
        for term in sorted(terms, key=lambda t: (t.casefold(), t)):
            data.tabulation.append((term, 1, row(terms[term])))
    data.tabulation.append((_("Total (all system organ classes)"), 0, row(grand)))

    # Listing.
    sars = [e for e in events if e.sar and start <= e.received <= end]
    sars.sort(key=lambda e: (e.soc.casefold(), e.term.casefold(), _onset_key(e.onset), e.id))
    arm_label = {a.id: a.label for a in arms}
    exposure: dict[tuple[int, int], list[Exposure]] = defaultdict(list)
    subject_ids = sorted({e.subject_id for e in sars})
    if subject_ids:
        for x in session.exec(
            select(Exposure)
            .where(col(Exposure.subject_id).in_(subject_ids))
            .order_by(col(Exposure.start), col(Exposure.id))
        ):
            exposure[(x.subject_id, x.drug_id)].append(x)
    for e in sars:
        data.listing.append(_listing_row(e, study, drugs, arm_drugs, arm_label, exposure,
                                         masked, end))  # fmt: skip
    return data


def _listing_row(
    e: _Event,
    study: Study,
    drugs: list[StudyDrug],
    arm_drugs: dict[int, set[int]],
    arm_label: dict[int | None, str],
    exposure: dict[tuple[int, int], list[Exposure]],
    masked: bool,
    end: date,
) -> list[Any]:
    a = e.assessment
    mine = [d for d in drugs if e.arm_id is not None and d.id in arm_drugs.get(e.arm_id, set())]
    # Drugs the subject got that no arm link names (an imported study): by their records.
    mine += [d for d in drugs if d not in mine and exposure.get((e.subject_id, d.id))]
    mine += [d for d in drugs if d not in mine and d.key in e.aerel]
    if a is not None:
        suspect = {k for k, v in (a.causality or {}).items() if v in SUSPECTED}
    else:
        suspect = {k for k, v in e.aerel.items() if v in INVESTIGATOR_RELATED}
        if not suspect and e.related:
            suspect = set(e.aerel)
    comments: list[str] = []
    doses, routes, dates, causality, expectedness = [], [], [], [], []
    names: list[str] = []
    hidden_suspect = False
    first_doses: list[date] = []
    for d in mine:
        given = [x for x in exposure.get((e.subject_id, d.id), []) if x.start.date() <= end]
        if given:
            first_doses.append(given[0].start.date())
        if masked and not d.in_every_arm:
            hidden_suspect = hidden_suspect or d.key in suspect
            continue
        inv = e.aerel.get(d.key)
        spon = (a.causality or {}).get(d.key) if a is not None else None
        causality.append(
            _(
                "%(drug)s: investigator %(investigator)s; sponsor %(sponsor)s",
                drug=d.name,
                investigator=labels.label("relationship", inv) if inv else "-",
                sponsor=labels.label("causality", spon) if spon else _("not assessed"),
            )
        )
        if d.key not in suspect:
            continue
        names.append(d.name)
        before = [x for x in given if _before_onset(x.start, e.onset)]
        if before:
            x = before[-1]
            doses.append(f"{d.name}: {_num(x.dose)} {x.unit} {x.frequency}")
            if x.route:
                routes.append(f"{d.name}: {x.route}")
        if given:
            last = given[-1]
            stop = (last.end or last.start).date()
            dates.append(f"{d.name}: {given[0].start.date().isoformat()} - {stop.isoformat()}")
        if a is not None and (a.expectedness or {}).get(d.key):
            expectedness.append(f"{d.name}: {labels.label('expectedness', a.expectedness[d.key])}")
    if hidden_suspect:
        names.append(_(BLINDED_DRUG))
    onset = _complete(e.onset)
    first = min(first_doses) if first_doses else None
    if onset is not None and first is not None:
        to_onset: int | None = (onset - first).days
    else:
        to_onset = None
        if e.onset and onset is None:
            comments.append(
                _("Partial onset date (%(onset)s): time to onset not computed.", onset=e.onset)
            )
        elif not e.onset:
            comments.append(_("Onset date missing: time to onset not computed."))
        elif first is None:
            comments.append(_("No study drug dose recorded: time to onset not computed."))
    if a is None:
        comments.append(
            _("Not assessed by the sponsor yet: listed on the investigator's causality.")
        )
    if masked:
        arm = _(BLINDED) if e.arm_id is not None else _("No arm")
    else:
        arm = arm_label.get(e.arm_id) or _("No arm")
    susar = labels.label("yesno", a.is_susar) if a is not None else _("not assessed")
    return [
        study.id,
        f"{_country(e.country) or 'XX'}-{SENDER_CODE}-{study.id}-{e.id}",
        e.usubjid,
        e.country or "",
        e.age,
        labels.label("sex", e.sex) if e.sex else "",
        arm,
        "\n".join(names),
        "\n".join(doses),
        "\n".join(routes),
        "\n".join(dates),
        e.soc,
        e.term,
        e.verbatim,
        e.onset or "",
        to_onset,
        labels.label("outcome", e.outcome) if e.outcome else "",
        "\n".join(labels.label("criterion", c) for c in e.criteria),
        "\n".join(causality),
        "\n".join(expectedness),
        susar,
        e.received,
        " ".join(comments),
    ]


def _country(name: str | None) -> str | None:
    from pv.icsr.build import country_code

    return country_code(name)


# --- Sheets ---------------------------------------------------------------------------

VALUE_WIDTH = 100


def _text(ws: Worksheet, value: Any, style: str) -> Any:
    cell = safe_cell(ws, value)
    if isinstance(value, datetime):
        return st.apply(cell, "datetime")
    if isinstance(value, date):
        return st.apply(cell, "date")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return st.apply(cell, "int")
    return st.apply(cell, style + ("!q" if cell.quotePrefix else ""))


def _key_value(ws: Worksheet, key: str, value: Any) -> None:
    if isinstance(value, str):
        n = lines(value, VALUE_WIDTH)
        if n > 1:
            ws.row_dimensions[ws._pv_next].height = n * LINE_PT  # type: ignore[attr-defined]
    ws.append([st.apply(safe_cell(ws, key), "key"), _text(ws, value, "wrap")])
    ws._pv_next += 1  # type: ignore[attr-defined]


def _write_cover(
    ws: Worksheet,
    study: Study,
    start: date,
    end: date,
    masked: bool,
    data: Dsur,
    printed: tuple[str, str],
    tab_title: str,
    list_title: str,
) -> None:
    ws.column_dimensions["A"].width = 26
    ws.column_dimensions["B"].width = VALUE_WIDTH
    print_setup(ws, *printed, width=26 + VALUE_WIDTH)
    ws.append([st.apply(safe_cell(ws, _("Development safety update report (DSUR): line "
                                        "listings and tabulations")), "title")])  # fmt: skip
    ws.append([st.apply(safe_cell(ws, _("ICH E2F, sections 7.2 and 7.3 of the DSUR")), "subtitle")])
    ws.append([])
    ws._pv_next = 4  # type: ignore[attr-defined]
    _key_value(ws, _("Study"), study.id)
    _key_value(ws, _("Title"), study.official_title or study.title)
    _key_value(ws, _("NCT ID"), study.nct_id or "")
    _key_value(ws, _("Sponsor"), study.sponsor or "")
    _key_value(ws, _("Reporting period"),
               _("%(start)s to %(end)s (both included)", start=start.isoformat(),
                 end=end.isoformat()))  # fmt: skip
    _key_value(ws, _("Data lock point"), end)
    _key_value(ws, _("Generated at (UTC)"), utcnow().replace(tzinfo=None, microsecond=0))
    _key_value(ws, _("Software"), f"pv-tracker {pv.__version__}")
    _key_value(ws, _("Arms"), _("Blinded: pooled in one column") if masked else
               _("Shown by arm"))  # fmt: skip
    total = data.tabulation[-1][2][-1] if data.tabulation else 0
    _key_value(
        ws,
        _("Sheet"),
        ngettext(
            "%(sheet)s: serious adverse events from the start of the study to the data lock "
            "point by system organ class, term and arm (%(num)d event).",
            "%(sheet)s: serious adverse events from the start of the study to the data lock "
            "point by system organ class, term and arm (%(num)d events).",
            total,
            sheet=tab_title,
        ),
    )
    _key_value(
        ws,
        _("Sheet"),
        ngettext(
            "%(sheet)s: serious adverse reactions received in the reporting period "
            "(%(num)d reaction).",
            "%(sheet)s: serious adverse reactions received in the reporting period "
            "(%(num)d reactions).",
            len(data.listing),
            sheet=list_title,
        ),
    )
    ws.append([])
    ws._pv_next += 1  # type: ignore[attr-defined]
    rules = [RULE_SCOPE, RULE_RECEIVED, RULE_TABULATION, RULE_LISTING, RULE_PARTIAL]
    if masked:
        rules.append(RULE_MASKED)
    for rule in rules:
        _key_value(ws, _("Rule"), _(rule))


def _header(ws: Worksheet, title: str, subtitle: str, heads: list[str], widths: list[int]) -> None:
    """Title, subtitle, a blank row and the header row, as tall as its longest wrapped
    header (an arm's label is long: "Glucocorticoid monotherapy Group (comparator)")."""
    ws.append([st.apply(safe_cell(ws, title), "title")])
    ws.append([st.apply(safe_cell(ws, subtitle), "subtitle")])
    ws.append([])
    tallest = max(lines(h, w, bold=True) for h, w in zip(heads, widths, strict=True))
    if tallest > 1:
        ws.row_dimensions[HEADER_ROW].height = tallest * LINE_PT
    ws.append([st.apply(safe_cell(ws, h), "header") for h in heads])


def _write_tabulation(
    ws: Worksheet, study: Study, end: date, data: Dsur, printed: tuple[str, str]
) -> None:
    ws.column_dimensions["A"].width = 60
    for i in range(len(data.columns)):
        ws.column_dimensions[_letter(i + 2)].width = 16
    ws.freeze_panes = f"B{HEADER_ROW + 1}"
    print_setup(ws, *printed, width=60 + 16 * len(data.columns))
    _header(
        ws,
        _("Cumulative tabulation of serious adverse events"),
        _(
            "%(study)s. Number of serious adverse events (events, not subjects) from the "
            "start of the study to the data lock point %(end)s.",
            study=study.id,
            end=end.isoformat(),
        ),
        [_("System organ class / term"), *data.columns],
        [60] + [16] * len(data.columns),
    )
    for label, level, counts in data.tabulation:
        style = "label0" if level == 0 else "label1"
        ws.append([_text(ws, label, style), *[_text(ws, n, "int") for n in counts]])
    ws.append([])
    _footnote(ws, HEADER_ROW + len(data.tabulation) + 2, _(RULE_TABULATION),
              [60] + [16] * len(data.columns))  # fmt: skip


LISTING_COLUMNS: list[tuple[str, int]] = [
    (N_("Study"), 14),
    (N_("Case id"), 26),
    (N_("Subject"), 16),
    (N_("Country"), 10),
    (N_("Age"), 5),
    (N_("Sex"), 7),
    (N_("Arm"), 18),
    (N_("Suspect drug(s)"), 16),
    (N_("Daily dose at onset"), 22),
    (N_("Route"), 16),
    (N_("Dates of treatment"), 26),
    (N_("System organ class"), 22),
    (N_("Term (CTCAE / MedDRA)"), 22),
    (N_("Verbatim term"), 22),
    (N_("Onset date"), 10),
    (N_("Time to onset (days)"), 8),
    (N_("Outcome"), 16),
    (N_("Seriousness criteria"), 20),
    (N_("Causality (investigator; sponsor)"), 34),
    (N_("Expectedness"), 18),
    (N_("SUSAR"), 8),
    (N_("Received by the sponsor"), 11),
    (N_("Comments"), 30),
]


def _write_listing(
    ws: Worksheet,
    study: Study,
    start: date,
    end: date,
    data: Dsur,
    printed: tuple[str, str],
) -> None:
    for i, (_head, width) in enumerate(LISTING_COLUMNS):
        ws.column_dimensions[_letter(i + 1)].width = width
    ws.freeze_panes = f"C{HEADER_ROW + 1}"
    print_setup(ws, *printed, width=sum(w for _h, w in LISTING_COLUMNS))
    # Every column matters to the regulator and the listing is wider than a page: it
    # prints at 100 % (8 pt, issue 14's smallest printed size) across pages, each page
    # repeating the header row and the study, case id and subject columns.
    ws.sheet_properties.pageSetUpPr.fitToPage = False
    ws.page_setup.scale = 100
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.print_title_cols = "A:C"
    _header(
        ws,
        _("Interval line listing of serious adverse reactions"),
        _(
            "%(study)s. Serious adverse reactions received from %(start)s to %(end)s, by "
            "system organ class, term and onset.",
            study=study.id,
            start=start.isoformat(),
            end=end.isoformat(),
        ),
        [_(h) for h, _w in LISTING_COLUMNS],
        [w for _h, w in LISTING_COLUMNS],
    )
    for number, values in enumerate(data.listing):
        height = max(
            (
                lines(v, w) if isinstance(v, str) else 1
                for v, (_h, w) in zip(values, LISTING_COLUMNS, strict=True)
            ),
            default=1,
        )
        cells = [_text(ws, v, "wrap") for v in values]
        if height > 1:
            ws.row_dimensions[HEADER_ROW + 1 + number].height = height * LINE_PT
        ws.append(cells)
    if not data.listing:
        ws.append([st.apply(safe_cell(ws, _("No serious adverse reaction received in the "
                                            "reporting period.")), "note")])  # fmt: skip
    ws.append([])
    _footnote(ws, HEADER_ROW + max(len(data.listing), 1) + 2, _(RULE_LISTING),
              [w for _h, w in LISTING_COLUMNS])  # fmt: skip


def _footnote(ws: Worksheet, row: int, text: str, widths: list[int]) -> None:
    """A rule under a table: one wrapped cell merged across the columns that fit an A4
    page (the DSMB workbook's footnotes), as tall as its lines."""
    span, used = 0, 0
    for w in widths:
        if used + w > A4_UNITS and span:
            break
        span, used = span + 1, used + w
    if span > 1:
        ws.merged_cells.add(f"A{row}:{_letter(span)}{row}")
    ws.row_dimensions[row].height = lines(text, used) * LINE_PT
    ws.append([st.apply(safe_cell(ws, text), "footnote")])


def _letter(n: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(n)


__all__ = ["Dsur", "build_dsur", "collect", "is_sar", "received_date"]
