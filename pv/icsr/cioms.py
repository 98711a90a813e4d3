"""The CIOMS I form ("Suspect adverse reaction report") of a case, as a PDF (fpdf2).

`build_cioms(case, language="en")` lays out the standard CIOMS I form (the 2006+ version,
with the congenital anomaly and medically important boxes) on one A4 page: I. reaction
information (fields 1-13), II. suspect drug(s) (14-21), III. concomitant drugs and history
(22-23), IV. manufacturer information (24a-25a), and a sponsor comment box with each
drug's causality (investigator and sponsor) and expectedness (a follow-up adds a box of
what changed since the previous report). Text that does not fit its box is broken at a
line, the box says "(continued on page N)", and the rest is printed, whole, on
continuation pages after the form, in the form's order (never cut).

Language: `language` ("en", "zh-Hans") chooses the language of the form's labels (marked
with N_ below and translated through pv.i18n while the form is built); the data (terms,
narrative, names) stay as written. Dates are ISO 8601; the day/month/year boxes of the
onset get the parts of the ISO date.

Font: one Unicode font for everything, Noto Sans CJK SC (the Simplified Chinese face of
NotoSansCJK-Regular.ttc, Debian package fonts-noto-cjk: CFF outlines, embedded as a
subset, Latin included so "Müller" prints too). Without it the form falls back to DejaVu
Sans (fonts-dejavu-core) for Latin text, and a form that would print Chinese raises
`CiomsFontError` naming the missing package (never a page of empty boxes). Bold is drawn
by stroking the outline (one font file to load, not two).

Field 20 (did the reaction abate after stopping the drug?) and 21 (did it reappear after
reintroduction?), per suspect drug: the SAE case data's dechallenge / rechallenge result
(`SuspectDrug.dechallenge` / `.rechallenge`: yes, no, na; "unknown" ticks no box and says
"unknown") when the site gave one. Without it the form derives them from the action taken
with the drug (AEACN) and the outcome (AEOUT):
- 20, the drug was stopped (DRUG WITHDRAWN, DRUG INTERRUPTED): YES when the outcome is
  recovered/resolved, recovering/resolving or recovered with sequelae; NO when it is not
  recovered/not resolved or fatal; no box and "unknown" when the outcome is unknown;
- 20, the drug was not stopped (DOSE NOT CHANGED, DOSE INCREASED, DOSE REDUCED, NOT
  APPLICABLE): NA; the action is not known: no box and "unknown";
- 21: NA when the drug was withdrawn (not reintroduced) or never stopped; otherwise no box
  and "unknown".

The SAE case data (pv.icsr.case: issue 16) fill the rest of the form: 7 + 13 lists the
hospitalisation dates, the death (date, cause, autopsy) and the relevant tests (date, name,
result with unit, normal range) before the narrative; the boxes 8-12 print the date and
cause of death under PATIENT DIED and the admission / discharge dates under the
hospitalisation box; 17 is each drug's indication (the study's title when none is given);
22 lists the concomitant study drugs and the concomitant medications (dose, route, dates,
indication); 23 the medical history (term, start, ongoing); 24d ticks STUDY (a trial's
case) and HEALTH PROFESSIONAL when the reporter is one (E2B C.2.r.4 qualification 1-3)
and names the reporter and contact; 25a ticks INITIAL or FOLLOWUP with the follow-up
number (the version number less one). A follow-up adds a box after the sponsor comment:
the officer's note and every change since the previous report (dotted path, old -> new).

Determinism: the same case gives the same bytes. The PDF's creation date is `case.created`
(midnight UTC for a date, the time itself for a date-time), nothing random is written
(fpdf2 derives the trailer /ID from the document), so a version's download and its stored
submission file are equal byte for byte.

Blinded cases: every study drug name is masked ("blinded study drug"): the drugs of a case
are the subject's study drugs today (`build_case`), the concomitant ones included. The
concomitant medications of the case data are not study drugs and stay named.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TextMode

from pv import i18n
from pv.i18n import N_, gettext, ngettext, pgettext
from pv.icsr.case import Case, Change, ConMed, LabTest, SuspectDrug, language_of
from pv.labels import label

FONT_PACKAGE = "fonts-noto-cjk"
FONT_FACE = "Noto Sans CJK SC"
# Where the Noto CJK collection lives (Debian/Ubuntu fonts-noto-cjk first, then Fedora and
# Arch); a single-face OTF of the same family also works.
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
)
LATIN_FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)  # fonts-dejavu-core


class CiomsFontError(RuntimeError):
    """No font can print the form's text (Chinese without a CJK font)."""


# ---- labels (translated at build time) -------------------------------------------------

CIOMS_FORM = N_("CIOMS FORM")
TITLE = N_("SUSPECT ADVERSE REACTION REPORT")
STUDY_LINE = N_("Study: %(study)s")
REGISTRATION_LINE = N_("Registration: %(registration)s")
REPORT_LINE = N_("Report ID: %(report)s")

SECTION_I = N_("I. REACTION INFORMATION")
SECTION_II = N_("II. SUSPECT DRUG(S) INFORMATION")
SECTION_III = N_("III. CONCOMITANT DRUG(S) AND HISTORY")
SECTION_IV = N_("IV. MANUFACTURER INFORMATION")
SPONSOR_COMMENT = N_("SPONSOR COMMENT: CAUSALITY AND EXPECTEDNESS")

F1 = N_("1. PATIENT INITIALS (subject ID)")
F1A = N_("1a. COUNTRY")
F2 = N_("2. DATE OF BIRTH")
F2A = N_("2a. AGE (years)")
F3 = N_("3. SEX")
F3A = N_("3a. WEIGHT")
F4_6 = N_("4-6. REACTION ONSET")
F7_13 = N_("7 + 13. DESCRIBE REACTION(S) (including relevant tests/lab data)")
F8_12 = N_("8-12. CHECK ALL APPROPRIATE TO ADVERSE REACTION")
# The seriousness boxes, in the form's order, with the criterion each one shows.
CRITERIA = (
    ("aesdth", N_("PATIENT DIED")),
    ("aeshosp", N_("INVOLVED OR PROLONGED INPATIENT HOSPITALISATION")),
    ("aesdisab", N_("INVOLVED PERSISTENT OR SIGNIFICANT DISABILITY OR INCAPACITY")),
    ("aeslife", N_("LIFE THREATENING")),
    ("aescong", N_("CONGENITAL ANOMALY")),
    ("aesmie", N_("OTHER MEDICALLY IMPORTANT CONDITION")),
)
F14 = N_("14. SUSPECT DRUG(S) (include generic name)")
F15 = N_("15. DAILY DOSE(S)")
F16 = N_("16. ROUTE(S) OF ADMINISTRATION")
F17 = N_("17. INDICATION(S) FOR USE")
F18 = N_("18. THERAPY DATES (from/to)")
F19 = N_("19. THERAPY DURATION")
F20 = N_("20. DID REACTION ABATE AFTER STOPPING DRUG?")
F21 = N_("21. DID REACTION REAPPEAR AFTER REINTRODUCTION?")
ANSWERS = (("yes", N_("YES")), ("no", N_("NO")), ("na", N_("NA")))
F22 = N_(
    "22. CONCOMITANT DRUG(S) AND DATES OF ADMINISTRATION (exclude those used to treat reaction)"
)
F23 = N_(
    "23. OTHER RELEVANT HISTORY (e.g. diagnostics, allergies, pregnancy with last month of "
    "period, etc.)"
)
F24A = N_("24a. NAME AND ADDRESS OF MANUFACTURER")
F24B = N_("24b. MFR CONTROL NO.")
F24C = N_("24c. DATE RECEIVED BY MANUFACTURER")
F24D = N_("24d. REPORT SOURCE")
SOURCES = (
    ("study", N_("STUDY")),
    ("literature", N_("LITERATURE")),
    ("hcp", N_("HEALTH PROFESSIONAL")),
)
REPORT_DATE = N_("DATE OF THIS REPORT")
F25A = N_("25a. REPORT TYPE")
INITIAL, FOLLOWUP = N_("INITIAL"), N_("FOLLOWUP")
VERSION = N_("Version %(version)s")

# The SAE case data (issue 16).
HOSPITALISATION = N_("Hospital admission: %(admission)s; discharge: %(discharge)s")
DEATH = N_("Date of death: %(date)s; cause of death: %(cause)s")
AUTOPSIES = {  # pv.icsr.models.AUTOPSY
    "Y": N_("Autopsy performed"),
    "N": N_("Autopsy not performed"),
    "U": N_("Autopsy: unknown"),
}
AUTOPSY_CAUSE = N_("%(autopsy)s; cause of death by autopsy: %(cause)s")
TESTS_HEADING = N_("Relevant tests and laboratory data:")
TEST_RESULT = N_("%(date)s %(name)s: %(result)s")
TEST_RANGE = N_("%(date)s %(name)s: %(result)s (normal range: %(range)s)")
CONMED = N_(
    "%(drug)s: %(dose)s; route: %(route)s; %(start)s to %(end)s; indication: %(indication)s"
)
HISTORY = N_("%(term)s (start: %(start)s; ongoing: %(ongoing)s)")
REPORTER = N_("Reporter: %(name)s (%(qualification)s), %(organisation)s, %(country)s")
REPORTER_CONTACT = N_("Reporter's contact: %(contact)s")
# E2B(R3) C.2.r.4 qualification of the reporter (pv.icsr.models.QUALIFICATIONS).
QUALIFICATION_LABELS = {
    "1": N_("physician"),
    "2": N_("pharmacist"),
    "3": N_("other health professional"),
    "4": N_("lawyer"),
    "5": N_("consumer or other non health professional"),
}
HEALTH_PROFESSIONALS = frozenset({"1", "2", "3"})
FOLLOWUP_NUMBER = N_("Follow-up no. %(number)s")
CHANGES_BOX = N_("FOLLOW-UP NO. %(number)s: CHANGES SINCE THE PREVIOUS REPORT")
NOTE = N_("Note: %(note)s")
CHANGE = N_("%(field)s: %(old)s → %(new)s")
BLANK = "—"  # an empty old or new value of a change

UNKNOWN = N_("unknown")
NONE_RECORDED = N_("none recorded")
NOT_ASSESSED = N_("not assessed")
ONGOING = N_("ongoing")
BLINDED = N_("blinded study drug")
REPORTED_TERM = N_("Reported term: %(term)s")
ENGLISH_TERM = N_("English term: %(term)s")
LLT = N_("MedDRA %(version)s LLT: %(name)s (%(code)s)")
LLT_NOT_CODED = N_("MedDRA %(version)s LLT: not coded")
SOC = N_("System organ class: %(soc)s")
GRADE = N_("CTCAE grade: %(grade)s")
ONSET_END = N_("Onset: %(start)s; end: %(end)s")
OUTCOME = N_("Outcome: %(outcome)s")
TESTS = N_("Relevant tests and laboratory data: %(tests)s")
NARRATIVE = N_("Narrative: %(text)s")
TREATMENT = N_("Treatment of the reaction: %(text)s")
DOSE_ONCE = N_("%(dose)s %(unit)s once on %(date)s")
DOSE_DAILY = N_("%(dose)s %(unit)s once daily from %(start)s to %(end)s")
DOSE_DAILY_OPEN = N_("%(dose)s %(unit)s once daily from %(start)s")
DOSE_OTHER = N_("%(dose)s %(unit)s %(frequency)s from %(start)s")
INDICATION = N_("study indication: %(title)s")
THERAPY_DATES = N_("%(start)s to %(end)s (last dose before the onset)")
CONCOMITANT = N_("%(drug)s: %(start)s to %(end)s")
ROLES = {"suspect": N_("suspect drug"), "concomitant": N_("concomitant drug")}
CAUSALITY = N_(
    "%(drug)s (%(role)s): investigator causality: %(investigator)s; sponsor causality "
    "(WHO-UMC): %(sponsor)s; expectedness: %(expectedness)s"
)
SUSAR = N_("SUSAR: %(answer)s")
# An electronic signature (pv.review.signing): the same words as on the review page.
SIGNED = N_("%(meaning)s: %(name)s, %(at)s UTC, event version %(version)s")
SIGNED_BEFORE = N_("%(signature)s (not valid for the current version)")
CONTINUED = N_("(continued on page %(page)s)")
CONTINUATION_OF = N_("%(field)s (continued)")
RUNNING_HEAD = N_("CIOMS I form %(case)s: continuation")
PAGE = N_("Page %(page)s of %(pages)s")

# ---- field 20/21 rules (see the module docstring) ---------------------------------------

STOPPED = frozenset({"DRUG WITHDRAWN", "DRUG INTERRUPTED"})
NOT_STOPPED = frozenset({"DOSE NOT CHANGED", "DOSE INCREASED", "DOSE REDUCED", "NOT APPLICABLE"})
ABATED = frozenset(
    {"RECOVERED/RESOLVED", "RECOVERING/RESOLVING", "RECOVERED/RESOLVED WITH SEQUELAE"}
)
NOT_ABATED = frozenset({"NOT RECOVERED/NOT RESOLVED", "FATAL"})


GIVEN = frozenset({"yes", "no", "na"})


def dechallenge(drug: SuspectDrug, outcome: str | None) -> str | None:
    """Field 20 for a drug: "yes", "no", "na" or None (unknown)."""
    if drug.dechallenge is not None:  # the site's answer (case data), "unknown" included
        return drug.dechallenge if drug.dechallenge in GIVEN else None
    if drug.action in STOPPED:
        if outcome in ABATED:
            return "yes"
        if outcome in NOT_ABATED:
            return "no"
        return None
    if drug.action in NOT_STOPPED:
        return "na"
    return None


def rechallenge(drug: SuspectDrug) -> str | None:
    """Field 21 for a drug: the site's answer, else "na" when it was withdrawn or never
    stopped, else None."""
    if drug.rechallenge is not None:
        return drug.rechallenge if drug.rechallenge in GIVEN else None
    if drug.action == "DRUG WITHDRAWN" or drug.action in NOT_STOPPED:
        return "na"
    return None


# ---- fonts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FontChoice:
    path: str
    index: int  # face number in a collection (0 for a single font file)
    cjk: bool


@lru_cache(maxsize=1)
def find_font() -> FontChoice | None:
    """Noto Sans CJK SC if installed, else DejaVu Sans (no Chinese), else None."""
    for candidate in CJK_FONT_PATHS:
        path = Path(candidate)
        if not path.is_file():
            continue
        if path.suffix.lower() not in (".ttc", ".otc"):
            return FontChoice(str(path), 0, True)
        index = _face_index(path, FONT_FACE)
        if index is not None:
            return FontChoice(str(path), index, True)
    for candidate in LATIN_FONT_PATHS:
        if Path(candidate).is_file():
            return FontChoice(candidate, 0, False)
    return None


def _face_index(path: Path, family: str) -> int | None:
    from fontTools.ttLib import TTCollection

    try:
        collection = TTCollection(str(path), lazy=True)
    except Exception:  # noqa: BLE001 - an unreadable file is simply not a candidate
        return None
    with collection:
        for i, font in enumerate(collection.fonts):
            name = font["name"]
            if name.getDebugName(16) == family or name.getDebugName(1) == family:
                return i
    return None


def _missing_font_error() -> CiomsFontError:
    return CiomsFontError(
        f"the CIOMS form holds Chinese text but no CJK font is installed: install the "
        f"Debian package {FONT_PACKAGE} ({FONT_FACE}, "
        f"{CJK_FONT_PATHS[0]})"
    )


# ---- text helpers -----------------------------------------------------------------------


def _has_cjk(text: str) -> bool:
    return language_of(text) == "zh"


# Line breaking (see _Form.wrap): a token is a run of spaces, a run of characters that are
# neither spaces nor CJK (a Latin word, a number with its unit), or one other character.
_TOKENS = re.compile(r"[ \t]+|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff]+|.")
_NO_LINE_START = frozenset("，。、；：？！）》」』】〕％…,.;:?!)]%")
_NO_LINE_END = frozenset("（《「『【〔([")
_ISO_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def _date(text: str | None) -> str | None:
    """The date part of an ISO 8601 date or date-time (partial dates stay partial)."""
    if not text:
        return None
    m = _ISO_DATE.match(text)
    return m.group(0) if m else text


def date_parts(text: str | None) -> tuple[str | None, str | None, str | None]:
    """(day, month, year) of an ISO 8601 date, None for a part not known."""
    m = _ISO_DATE.match(text or "")
    if not m:
        return None, None, None
    return m.group(3), m.group(2), m.group(1)


def date_part_names() -> tuple[str, str, str]:
    """The headings of the day / month / year boxes, translated."""
    return (
        pgettext("date part", "Day"),
        pgettext("date part", "Month"),
        pgettext("date part", "Year"),
    )


def _number(value: float) -> str:
    text = f"{value:f}".rstrip("0").rstrip(".")
    return text or "0"


def _or_unknown(value: object) -> str:
    return gettext(UNKNOWN) if value is None or value == "" else str(value)


def _days(start: str | None, end: str | None) -> int | None:
    try:
        first = date.fromisoformat(_date(start) or "")
        last = date.fromisoformat(_date(end) or "")
    except ValueError:
        return None
    return (last - first).days + 1 if last >= first else None


def _numbered(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return "\n".join(f"{i}) {text}" for i, text in enumerate(items, 1))


# ---- the form's content -----------------------------------------------------------------


def _drug_name(case: Case, drug: SuspectDrug) -> str:
    return gettext(BLINDED) if case.blinded else drug.name


def _dose_text(drug: SuspectDrug) -> str:
    parts = []
    for d in drug.doses:
        values = {"dose": _number(d.dose), "unit": d.unit}
        start, end = _date(d.start) or gettext(UNKNOWN), _date(d.end)
        if d.frequency == "ONCE":
            parts.append(gettext(DOSE_ONCE, date=start, **values))
        elif d.frequency == "QD" and end:
            parts.append(gettext(DOSE_DAILY, start=start, end=end, **values))
        elif d.frequency == "QD":
            parts.append(gettext(DOSE_DAILY_OPEN, start=start, **values))
        else:
            parts.append(gettext(DOSE_OTHER, frequency=d.frequency, start=start, **values))
    return "; ".join(parts) if parts else gettext(UNKNOWN)


def _routes(drug: SuspectDrug) -> str:
    routes = list(dict.fromkeys(d.route for d in drug.doses if d.route))
    return ", ".join(routes) if routes else gettext(UNKNOWN)


def _therapy_dates(drug: SuspectDrug) -> str:
    if not drug.first_dose and not drug.last_dose:
        return gettext(UNKNOWN)
    return gettext(
        THERAPY_DATES,
        start=_or_unknown(_date(drug.first_dose)),
        end=_or_unknown(_date(drug.last_dose)),
    )


def _duration(drug: SuspectDrug) -> str:
    n = _days(drug.first_dose, drug.last_dose)
    return gettext(UNKNOWN) if n is None else ngettext("%(num)d day", "%(num)d days", n)


def _reaction_text(case: Case) -> str:
    """Box 7 + 13: the term and its coding, dates, outcome, hospitalisation, the relevant
    tests, then the narrative and the treatment (the long texts last)."""
    r = case.reaction
    lines = [gettext(REPORTED_TERM, term=r.term)]
    if r.term_en and r.term_en != r.term:
        lines.append(gettext(ENGLISH_TERM, term=r.term_en))
    if r.llt_code:
        lines.append(
            gettext(LLT, version=r.meddra_version, name=_or_unknown(r.llt_name), code=r.llt_code)
        )
    else:
        lines.append(gettext(LLT_NOT_CODED, version=r.meddra_version))
    if r.soc:
        lines.append(gettext(SOC, soc=r.soc))
    lines.append(gettext(GRADE, grade=_or_unknown(r.grade)))
    end = _date(r.end) or (gettext(ONGOING) if r.ongoing else gettext(UNKNOWN))
    lines.append(gettext(ONSET_END, start=_or_unknown(_date(r.start)), end=end))
    lines.append(gettext(OUTCOME, outcome=label("outcome", r.outcome) or gettext(UNKNOWN)))
    if case.hospital_admission or case.hospital_discharge:
        lines.append(_hospital_text(case))
    if case.tests:
        lines.append(gettext(TESTS_HEADING))
        lines.extend(f"{i}) {_test_text(t)}" for i, t in enumerate(case.tests, 1))
    else:
        tests = case.extra.get("tests") or gettext(NONE_RECORDED)
        lines.append(gettext(TESTS, tests=tests))
    lines.append(gettext(NARRATIVE, text=case.narrative or gettext(NONE_RECORDED)))
    lines.append(gettext(TREATMENT, text=case.treatment or gettext(NONE_RECORDED)))
    return "\n".join(lines)


def _hospital_text(case: Case) -> str:
    return gettext(
        HOSPITALISATION,
        admission=_or_unknown(_date(case.hospital_admission)),
        discharge=_or_unknown(_date(case.hospital_discharge)),
    )


def _death_text(case: Case) -> str:
    """Under PATIENT DIED: date and cause of death, autopsy."""
    d = case.death
    if d is None:
        return ""
    lines = [gettext(DEATH, date=_or_unknown(_date(d.date)), cause=_or_unknown(d.cause))]
    if d.autopsy is not None or d.autopsy_cause:
        done = gettext(AUTOPSIES.get(d.autopsy or "U", AUTOPSIES["U"]))
        if d.autopsy_cause:
            done = gettext(AUTOPSY_CAUSE, autopsy=done, cause=d.autopsy_cause)
        lines.append(done)
    return "\n".join(lines)


def _range_text(low: str | None, high: str | None) -> str | None:
    if low and high:
        return f"{low}–{high}"
    if low:
        return f"≥ {low}"
    if high:
        return f"≤ {high}"
    return None


def _test_text(t: LabTest) -> str:
    result = " ".join(x for x in (t.value, t.unit) if x) or gettext(UNKNOWN)
    values = {"date": _or_unknown(_date(t.date)), "name": t.name, "result": result}
    normal = _range_text(t.low, t.high)
    if normal is None:
        return gettext(TEST_RESULT, **values)
    return gettext(TEST_RANGE, range=normal, **values)


def _conmed_text(m: ConMed) -> str:
    dose = gettext(UNKNOWN) if m.dose is None else f"{_number(m.dose)} {m.unit or ''}".strip()
    # no stop date: ongoing when the start is known
    end = _date(m.stop) or gettext(ONGOING if m.start else UNKNOWN)
    return gettext(
        CONMED,
        drug=m.name,
        dose=dose,
        route=_or_unknown(m.route),
        start=_or_unknown(_date(m.start)),
        end=end,
        indication=_or_unknown(m.indication),
    )


def _concomitant_text(case: Case) -> str:
    """Box 22: the concomitant study drugs, then the concomitant medications."""
    items = [
        gettext(
            CONCOMITANT,
            drug=_drug_name(case, d),
            start=_or_unknown(_date(d.first_dose)),
            end=_or_unknown(_date(d.last_dose)),
        )
        for d in case.drugs
        if d.role == "concomitant"
    ]
    items += [_conmed_text(m) for m in case.conmeds]
    return _numbered(items) if items else gettext(NONE_RECORDED)


def _yes_no_unknown(value: bool | None) -> str:
    return gettext(UNKNOWN) if value is None else label("yesno", value)


def _history_text(case: Case) -> str:
    """Box 23: the medical history of the case data (else what `extra` holds)."""
    items = [
        gettext(
            HISTORY,
            term=h.term,
            start=_or_unknown(_date(h.start)),
            ongoing=_yes_no_unknown(h.ongoing),
        )
        for h in case.history
    ]
    if items:
        return _numbered(items)
    return case.extra.get("history") or gettext(NONE_RECORDED)


def _reporter_text(case: Case) -> str:
    r = case.reporter
    qualification = QUALIFICATION_LABELS.get(r.qualification or "")
    lines = [
        gettext(
            REPORTER,
            name=_or_unknown(r.name),
            qualification=gettext(qualification) if qualification else gettext(UNKNOWN),
            organisation=_or_unknown(r.organisation),
            country=_or_unknown(r.country),
        )
    ]
    if r.contact:
        lines.append(gettext(REPORTER_CONTACT, contact=r.contact))
    return "\n".join(lines)


def _masked_change(change: Change) -> bool:
    """A change that would show a study drug's name or the arm (whatever the path's
    spelling: drugs[0].name, drugs.0.name, a whole drug entry)."""
    path = change.field
    if path.startswith("patient.arm"):
        return True
    if not path.startswith("drugs"):
        return False
    whole = any(isinstance(v, dict | list | tuple) for v in (change.old, change.new))
    return "name" in path or whole


def _change_value(value: object) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return BLANK
    if isinstance(value, bool):
        return label("yesno", value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        parts = [f"{k}: {_change_value(v)}" for k, v in value.items() if v not in (None, "")]
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "; ".join(_change_value(v) for v in value)
    return str(value)


def _changes_text(case: Case) -> str:
    """The follow-up box: the officer's note, then each change (old -> new). In a blinded
    case a study drug's name and the arm are never printed, not even as a change."""
    lines = [gettext(NOTE, note=case.note)] if case.note else []
    for c in case.changes:
        old, new = _change_value(c.old), _change_value(c.new)
        if case.blinded and _masked_change(c):
            old = new = gettext(BLINDED)
        lines.append(gettext(CHANGE, field=c.field, old=old, new=new))
    return "\n".join(lines) if lines else gettext(NONE_RECORDED)


def _causality_text(case: Case) -> str:
    drugs = sorted(case.drugs, key=lambda d: d.role != "suspect")
    lines = [
        gettext(
            CAUSALITY,
            drug=_drug_name(case, d),
            role=gettext(ROLES[d.role]) if d.role in ROLES else d.role,
            investigator=label("relationship", d.investigator_causality) or gettext(NOT_ASSESSED),
            sponsor=label("causality", d.sponsor_causality) or gettext(NOT_ASSESSED),
            expectedness=label("expectedness", d.expectedness) or gettext(NOT_ASSESSED),
        )
        for d in drugs
    ]
    lines.append(gettext(SUSAR, answer=label("yesno", case.susar)))
    for sig in case.signatures:  # who assessed (and approved) the case, signed
        line = gettext(SIGNED, meaning=label("signature_meaning", sig.meaning), name=sig.name,
                       at=sig.at, version="—" if sig.version is None else sig.version)  # fmt: skip
        lines.append(line if sig.valid else gettext(SIGNED_BEFORE, signature=line))
    return "\n".join(lines) if drugs else "\n".join([gettext(NONE_RECORDED), *lines])


# ---- layout -----------------------------------------------------------------------------

LABEL_PT = 5.8
LABEL_LH = 2.5
VALUE_PT = 7.5
VALUE_LH = 3.3
BOX = 2.6  # check box side (mm)
PAGE_W, LEFT, TOP = 210.0, 10.0, 8.0
BOTTOM = 284.0  # the footer is below
WIDTH = PAGE_W - 2 * LEFT


@dataclass
class _Overflow:
    label: str  # the field's label (translated)
    text: str  # what did not fit
    page: int  # the page of the box
    x: float  # where the note goes
    y: float
    w: float
    size: float = VALUE_PT  # of the note: the box's text size
    lh: float = VALUE_LH
    continued_on: int = 0


class _Form(FPDF):
    def __init__(self, case: Case, font: FontChoice) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.case = case
        self.cjk = font.cjk
        self.add_font("form", "", font.path, collection_font_number=font.index)
        self.set_margins(LEFT, TOP, LEFT)
        self.set_auto_page_break(False)
        self.c_margin = 0.8
        self.set_line_width(0.2)
        self.overflows: list[_Overflow] = []

    # Every text the form prints passes here: Chinese without a CJK font is an error.
    def normalize_text(self, text: str) -> str:
        if not self.cjk and _has_cjk(text):
            raise _missing_font_error()
        return super().normalize_text(text)

    def header(self) -> None:
        if self.page == 1:
            return
        self.font(7)
        self.set_xy(LEFT, TOP)
        self.cell(WIDTH, 4, gettext(RUNNING_HEAD, case=self.case.case_id))
        self.line(LEFT, TOP + 5, LEFT + WIDTH, TOP + 5)
        self.set_xy(LEFT, TOP + 7)

    def font(self, size: float) -> None:
        self.set_font("form", "", size)

    def bold(self, size: float):  # type: ignore[no-untyped-def]
        """Bold by stroking the outline too, in a saved graphics state (the text mode and
        line width of the PDF persist after the text object)."""
        return self.local_context(text_mode=TextMode.FILL_STROKE, line_width=size * 0.006)

    # ---- primitives ----

    def wrap(self, text: str, w: float) -> list[str]:
        """`text` broken into lines that fit `w` in the current font: at spaces and between
        Chinese characters; a run of Latin letters and digits ("39.2℃", "150/95") stays
        whole unless wider than a line; closing punctuation does not start a line. Every
        line is a slice of the text (white space at the breaks left out)."""
        room = w - 2 * self.c_margin
        width = self.get_string_width
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line: list[str] = []
            used = 0.0
            for token in _TOKENS.findall(paragraph):
                size = width(token)
                if token.isspace():
                    if line:
                        line.append(token)
                        used += size
                    continue
                if used + size <= room:
                    line.append(token)
                    used += size
                    continue
                while line and line[-1].isspace():
                    used -= width(line.pop())
                carry = []
                if token in _NO_LINE_START and len(line) > 1 and not line[-1].isspace():
                    carry = [line.pop()]
                while len(line) > 1 and line[-1] in _NO_LINE_END:
                    carry.insert(0, line.pop())
                if line:
                    lines.append("".join(line).rstrip())
                line, used = carry, sum(width(t) for t in carry)
                if used + size <= room:
                    line.append(token)
                    used += size
                    continue
                for char in token:  # wider than a line: broken anywhere
                    size = width(char)
                    if line and used + size > room:
                        lines.append("".join(line))
                        line, used = [], 0.0
                    line.append(char)
                    used += size
            lines.append("".join(line).rstrip())
        return lines

    def lines_at(self, x: float, y: float, w: float, lines: list[str], lh: float) -> float:
        for i, line in enumerate(lines):
            self.set_xy(x, y + i * lh)
            self.cell(w, lh, line)
        return y + len(lines) * lh

    def shrink_cell(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        text: str,
        size: float,
        *,
        align: str = "L",
        bold: bool = False,
    ) -> None:
        """One line of text in `w`, the font made smaller (down to 4.5 pt) to fit."""
        size = self.fitting_size(text, w, size)
        self.font(size)
        self.set_xy(x, y)
        if bold:
            with self.bold(size):
                self.cell(w, h, text, align=align)
        else:
            self.cell(w, h, text, align=align)
        self.font(VALUE_PT)

    def fitting_size(self, text: str, w: float, size: float, smallest: float = 4.5) -> float:
        """The largest size up to `size` (down to `smallest`) at which `text` fits `w`."""
        self.font(size)
        while size > smallest and self.get_string_width(text) > w - 2 * self.c_margin:
            size -= 0.25
            self.font(size)
        return size

    def label_at(self, x: float, y: float, w: float, text: str) -> float:
        """A field's label at the top of its box; the y below it."""
        self.font(LABEL_PT)
        bottom = self.lines_at(x, y + 0.5, w, self.wrap(text, w), LABEL_LH)
        self.font(VALUE_PT)
        return bottom + 0.3

    def box(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        label_text: str,
        value: str | None = None,
        *,
        fit: bool = False,
    ) -> float:
        """A field: its frame, its label, its value (cut to the box, the rest continued).
        `fit`: a short value is made smaller to stay on one line (down to 5 pt)."""
        self.rect(x, y, w, h)
        top = self.label_at(x, y, w, label_text)
        if value is None:
            return top
        if fit and "\n" not in value and self.fitting_size(value, w, VALUE_PT, 5) > 5:
            self.shrink_cell(x, top, w, VALUE_LH, value, VALUE_PT)
        else:
            self.flow(x, top, w, y + h - top, value, label_text)
        return top

    def flow(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        text: str,
        field: str,
        size: float = VALUE_PT,
        lh: float = VALUE_LH,
    ) -> None:
        """`text` in the area; what does not fit goes to the continuation pages (the last
        line shown says on which page)."""
        self.font(size)
        lines = self.wrap(text, w)
        room = max(1, math.floor((h - 0.3) / lh))
        if len(lines) <= room:
            shown = lines
        else:
            keep = room - 1  # the last line says where the text goes on
            shown, rest = lines[:keep], _rest(text, lines, keep)
            note_at = y + keep * lh
            self.overflows.append(_Overflow(field, rest, self.page, x, note_at, w, size, lh))
        self.lines_at(x, y, w, shown, lh)
        self.font(VALUE_PT)

    def checkbox(self, x: float, y: float, checked: bool) -> None:
        self.set_line_width(0.2)
        self.rect(x, y, BOX, BOX)
        if checked:
            self.font(VALUE_PT)
            self.set_xy(x, y)
            self.c_margin, margin = 0, self.c_margin
            with self.bold(VALUE_PT):
                self.cell(BOX, BOX, "X", align="C")
            self.c_margin = margin

    def checked_item(
        self, x: float, y: float, w: float, checked: bool, text: str, size: float = LABEL_PT + 0.4
    ) -> float:
        """A check box and its label (wrapped in `w`); the y below it."""
        self.checkbox(x, y + 0.2, checked)
        self.font(size)
        tw = w - BOX - 0.6
        bottom = self.lines_at(x + BOX + 0.6, y, tw, self.wrap(text, tw), LABEL_LH + 0.3)
        self.font(VALUE_PT)
        return max(bottom, y + BOX + 0.4)

    def checked_height(self, w: float, text: str, size: float = LABEL_PT + 0.4) -> float:
        """The height `checked_item` takes for `text` in `w`."""
        self.font(size)
        lines = len(self.wrap(text, w - BOX - 0.6))
        self.font(VALUE_PT)
        return max(lines * (LABEL_LH + 0.3), BOX + 0.4)

    def answer_row(self, x: float, y: float, w: float, prefix: str, answer: str | None) -> None:
        """YES / NO / NA boxes of field 20 or 21 (none checked and "unknown" if not known)."""
        cx = x + 1
        if prefix:
            self.shrink_cell(cx, y, 6, BOX + 0.4, prefix, VALUE_PT)
            cx += 6
        step = (w - (cx - x) - 1) / (len(ANSWERS) + (1 if answer is None else 0))
        for code, text in ANSWERS:
            self.checkbox(cx, y + 0.2, answer == code)
            self.shrink_cell(
                cx + BOX + 0.3, y, step - BOX - 0.3, BOX + 0.4, gettext(text), LABEL_PT + 0.6
            )
            cx += step
        if answer is None:
            self.shrink_cell(cx, y, step, BOX + 0.4, gettext(UNKNOWN), LABEL_PT + 0.6)

    def section(self, y: float, text: str) -> float:
        self.set_fill_color(225, 225, 225)
        self.rect(LEFT, y, WIDTH, 4.6, style="DF")
        self.shrink_cell(LEFT, y, WIDTH, 4.6, gettext(text), 7.5, bold=True)
        return y + 4.6


def _rest(text: str, lines: list[str], keep: int) -> str:
    """The part of `text` after its first `keep` wrapped lines (the text as written, its
    own line breaks kept)."""
    pos = 0
    for line in lines[:keep]:
        found = text.find(line, pos)
        if found < 0:  # the lines are not slices of the text: give the lines themselves
            return "\n".join(lines[keep:])
        pos = found + len(line)
    return text[pos:].lstrip(" \n")


DETAIL_PT, DETAIL_LH = 6.4, 2.8  # the details under a seriousness box


def _page_one(pdf: _Form, case: Case) -> None:
    c = case
    y = TOP
    # Title block
    pdf.shrink_cell(LEFT + WIDTH - 40, y, 40, 5, gettext(CIOMS_FORM), 8, align="R", bold=True)
    pdf.shrink_cell(LEFT, y + 5, WIDTH, 7, gettext(TITLE), 13, align="C", bold=True)
    heading = [gettext(STUDY_LINE, study=c.study.id)]
    if c.study.registration:
        heading.append(gettext(REGISTRATION_LINE, registration=c.study.registration))
    heading.append(gettext(REPORT_LINE, report=c.report_id))
    pdf.shrink_cell(LEFT, y + 11.2, WIDTH, 3.6, "    ".join(heading), 7.5, align="C")
    y += 15

    # I. Reaction information
    y = pdf.section(y, SECTION_I)
    left_w, right_w = 142.0, WIDTH - 142.0
    row_h, describe_h = 15.0, 72.0
    p = c.patient
    widths = (33.0, 14.0, 18.0, 13.0, 14.0, 15.0, 35.0)
    x = LEFT
    cells = [
        (F1, p.id),
        (F1A, _or_unknown(c.reporter.country)),
        (F2, gettext(UNKNOWN)),  # not collected (the age at onset is)
        (F2A, _or_unknown(p.age)),
        (F3, label("sex", p.sex) or gettext(UNKNOWN)),
        (F3A, f"{_number(p.weight_kg)} kg" if p.weight_kg is not None else gettext(UNKNOWN)),
    ]
    for (text, value), w in zip(cells, widths, strict=False):
        pdf.box(x, y, w, row_h, gettext(text), value, fit=True)
        x += w
    # 4-6: reaction onset, day / month / year
    w = widths[-1]
    pdf.rect(x, y, w, row_h)
    top = pdf.label_at(x, y, w, gettext(F4_6))
    part_w = w / 3
    for i, (name, part) in enumerate(
        zip(date_part_names(), date_parts(c.reaction.start), strict=True)
    ):
        px = x + i * part_w
        if i:
            pdf.line(px, top, px, y + row_h)
        pdf.shrink_cell(px, top, part_w, 2.6, name, LABEL_PT - 0.6, align="C")
        pdf.shrink_cell(px, top + 2.8, part_w, VALUE_LH, _or_unknown(part), VALUE_PT, align="C")

    # 7 + 13: describe reaction(s)
    dy = y + row_h
    pdf.box(LEFT, dy, left_w, describe_h, gettext(F7_13), _reaction_text(c))
    # 8-12: seriousness, beside fields 1-13; the death and hospital details under their box
    rx = LEFT + left_w
    bottom = y + row_h + describe_h
    pdf.rect(rx, y, right_w, row_h + describe_h)
    cy = pdf.label_at(rx, y, right_w, gettext(F8_12)) + 1.0
    details = {"aesdth": _death_text(c)}
    if c.hospital_admission or c.hospital_discharge:
        details["aeshosp"] = _hospital_text(c)
    # every box gets the height of its label and details (date and cause of death,
    # hospital dates); the room left is shared by all. Without room enough, the boxes with
    # details share what the others leave (their details continued after the form).
    needs = [pdf.checked_height(right_w - 2, gettext(t), LABEL_PT + 0.8) + 1.2 for _, t in CRITERIA]
    for i, (code, _) in enumerate(CRITERIA):
        if details.get(code):
            pdf.font(DETAIL_PT)
            needs[i] += len(pdf.wrap(details[code], right_w - 1.2)) * DETAIL_LH + 0.6
            pdf.font(VALUE_PT)
    room = bottom - cy
    if sum(needs) <= room:
        steps = [need + (room - sum(needs)) / len(CRITERIA) for need in needs]
    else:
        plain = [n for (code, _), n in zip(CRITERIA, needs, strict=True) if not details.get(code)]
        share = (room - sum(plain)) / (len(CRITERIA) - len(plain))
        steps = [
            share if details.get(code) else n for (code, _), n in zip(CRITERIA, needs, strict=True)
        ]
    for (code, text), step in zip(CRITERIA, steps, strict=True):
        shown = gettext(text)
        checked = bool(c.reaction.criteria.get(code))
        below = pdf.checked_item(rx + 1.2, cy, right_w - 2, checked, shown, LABEL_PT + 0.8)
        if details.get(code):
            h = min(cy + step, bottom) - below
            pdf.flow(rx + 0.6, below, right_w - 1.2, h, details[code], shown, DETAIL_PT, DETAIL_LH)
        cy += step
    y = bottom

    # II. Suspect drug(s)
    y = pdf.section(y, SECTION_II)
    suspects = [d for d in c.drugs if d.role == "suspect"]
    h14, h15, h17, h18 = 12.0, 14.0, 12.0, 12.0
    narrow = left_w / 2

    def each(render: Callable[[SuspectDrug], str], none: str = UNKNOWN) -> str:
        return _numbered([render(d) for d in suspects]) if suspects else gettext(none)

    def indication(d: SuspectDrug) -> str:
        if d.indication:
            return d.indication
        return gettext(INDICATION, title=c.study.title) if c.study.title else gettext(UNKNOWN)

    pdf.box(LEFT, y, left_w, h14, gettext(F14), each(lambda d: _drug_name(c, d), NONE_RECORDED))
    pdf.box(LEFT, y + h14, narrow, h15, gettext(F15), each(_dose_text))
    pdf.box(LEFT + narrow, y + h14, narrow, h15, gettext(F16), each(_routes))
    pdf.box(LEFT, y + h14 + h15, left_w, h17, gettext(F17), each(indication))
    y18 = y + h14 + h15 + h17
    w18 = left_w * 0.7
    pdf.box(LEFT, y18, w18, h18, gettext(F18), each(_therapy_dates))
    pdf.box(LEFT + w18, y18, left_w - w18, h18, gettext(F19), each(_duration))
    _answers(
        pdf,
        rx,
        y,
        right_w,
        h14 + h15,
        F20,
        suspects,
        [dechallenge(d, c.reaction.outcome) for d in suspects],
    )
    _answers(
        pdf,
        rx,
        y + h14 + h15,
        right_w,
        h17 + h18,
        F21,
        suspects,
        [rechallenge(d) for d in suspects],
    )
    y = y18 + h18

    # III. Concomitant drug(s) and history
    y = pdf.section(y, SECTION_III)
    h22, h23 = 22.0, 16.0
    pdf.box(LEFT, y, WIDTH, h22, gettext(F22), _concomitant_text(c))
    pdf.box(LEFT, y + h22, WIDTH, h23, gettext(F23), _history_text(c))
    y += h22 + h23

    # IV. Manufacturer information
    y = pdf.section(y, SECTION_IV)
    half = WIDTH / 2
    ha, hb, hc = 10.0, 18.0, 11.0
    pdf.box(LEFT, y, half, ha + hb, gettext(F24A), c.sender)
    pdf.box(LEFT + half, y, half / 2, ha, gettext(F24B), c.case_id)
    pdf.box(LEFT + half * 1.5, y, half / 2, ha, gettext(F24C), c.first_received.isoformat())
    # 24d: report source: a clinical study; a health professional when the reporter is one
    yb = y + ha
    pdf.rect(LEFT + half, yb, half, hb)
    top = pdf.label_at(LEFT + half, yb, half, gettext(F24D))
    sources = {"study": True, "hcp": c.reporter.qualification in HEALTH_PROFESSIONALS}
    sx = LEFT + half + 1
    for code, text in SOURCES:
        pdf.checked_item(sx, top, half / 3 - 1, sources.get(code, False), gettext(text))
        sx += half / 3
    study = c.study.id + (f" ({c.study.registration})" if c.study.registration else "")
    line = top + BOX + 0.8
    pdf.shrink_cell(LEFT + half, line, half, VALUE_LH, gettext(STUDY_LINE, study=study), 7)
    line += VALUE_LH
    pdf.flow(LEFT + half, line, half, yb + hb - line, _reporter_text(c), gettext(F24D), 6.8, 2.9)
    yc = yb + hb
    pdf.box(LEFT, yc, half, hc, gettext(REPORT_DATE), _created(c).isoformat())
    pdf.rect(LEFT + half, yc, half, hc)
    top = pdf.label_at(LEFT + half, yc, half, gettext(F25A))
    pdf.checked_item(LEFT + half + 1, top, half / 3, c.initial, gettext(INITIAL))
    pdf.checked_item(LEFT + half * 4 / 3, top, half / 3, not c.initial, gettext(FOLLOWUP))
    vx, vw = LEFT + half * 5 / 3, half / 3
    pdf.shrink_cell(vx, top, vw, BOX + 0.4, gettext(VERSION, version=c.version), VALUE_PT)
    if not c.initial:
        number = gettext(FOLLOWUP_NUMBER, number=followup_number(c))
        pdf.shrink_cell(vx, top + BOX + 0.6, vw, BOX + 0.4, number, VALUE_PT)
    y = yc + hc + 1.5

    # Sponsor comment (causality per drug and expectedness); a follow-up's changes
    if c.initial:
        pdf.box(LEFT, y, WIDTH, BOTTOM - y, gettext(SPONSOR_COMMENT), _causality_text(c))
    else:
        h = (BOTTOM - y) * 0.55
        pdf.box(LEFT, y, WIDTH, h, gettext(SPONSOR_COMMENT), _causality_text(c))
        changes = gettext(CHANGES_BOX, number=followup_number(c))
        pdf.box(LEFT, y + h, WIDTH, BOTTOM - y - h, changes, _changes_text(c))


def followup_number(case: Case) -> int:
    """The follow-up number of a report version (version 2 is follow-up no. 1)."""
    return max(case.version - 1, 0)


def _created(case: Case) -> date:
    """The date of this report (`created` may be a date-time: its date)."""
    created = case.created
    return created.date() if isinstance(created, datetime) else created


def _creation_datetime(case: Case) -> datetime:
    """The PDF's creation date: `created` itself when a date-time (UTC when naive),
    midnight UTC of a date."""
    created = case.created
    if isinstance(created, datetime):
        return created if created.tzinfo else created.replace(tzinfo=UTC)
    return datetime.combine(created, time(), tzinfo=UTC)


def _answers(
    pdf: _Form,
    x: float,
    y: float,
    w: float,
    h: float,
    field: str,
    drugs: list[SuspectDrug],
    answers: list[str | None],
) -> None:
    """Field 20 or 21: a row of YES / NO / NA per suspect drug (numbered when several);
    rows that do not fit go to the continuation pages as text."""
    label_text = gettext(field)
    top = pdf.box(x, y, w, h, label_text) + 0.8
    row = BOX + 1.4
    room = max(1, math.floor((y + h - top) / row))
    many = len(drugs) > 1
    if not drugs:
        pdf.answer_row(x, top, w, "", None)
        return
    shown = len(drugs) if len(drugs) <= room else room - 1
    for i in range(shown):
        pdf.answer_row(x, top + i * row, w, f"{i + 1})" if many else "", answers[i])
    if shown < len(drugs):
        rest = "\n".join(
            f"{i + 1}) " + gettext(dict(ANSWERS).get(answers[i] or "", UNKNOWN))
            for i in range(shown, len(drugs))
        )
        pdf.overflows.append(_Overflow(label_text, rest, pdf.page, x, top + shown * row, w))


def _continuations(pdf: _Form) -> None:
    """The rest of every box that overflowed, in the form's order, after the form."""
    if not pdf.overflows:
        return
    pdf.add_page()
    y = pdf.get_y()
    for item in pdf.overflows:
        if y > BOTTOM - 20:
            pdf.add_page()
            y = pdf.get_y()
        item.continued_on = pdf.page
        pdf.font(8.5)
        with pdf.bold(8.5):
            heading = gettext(CONTINUATION_OF, field=item.label)
            y = pdf.lines_at(LEFT, y, WIDTH, pdf.wrap(heading, WIDTH), 4.5) + 0.5
        pdf.font(9)
        for line in pdf.wrap(item.text, WIDTH):
            if y + 4.6 > BOTTOM:
                pdf.add_page()
                y = pdf.get_y()
            y = pdf.lines_at(LEFT, y, WIDTH, [line], 4.6)
        y += 4
    last = pdf.page
    for item in pdf.overflows:
        pdf.page = item.page
        note = gettext(CONTINUED, page=item.continued_on)
        pdf.shrink_cell(item.x, item.y, item.w, item.lh, note, item.size)
    pdf.page = last


def _footers(pdf: _Form) -> None:
    total = pdf.pages_count
    last = pdf.page
    for n in range(1, total + 1):
        pdf.page = n
        pdf.shrink_cell(LEFT, 288.5, WIDTH / 2, 4, pdf.case.report_id, 6.5)
        pdf.shrink_cell(
            LEFT + WIDTH / 2,
            288.5,
            WIDTH / 2,
            4,
            gettext(PAGE, page=n, pages=total),
            6.5,
            align="R",
        )
    pdf.page = last


def build_cioms(case: Case, *, language: str = "en") -> bytes:
    """The CIOMS I form of `case` as PDF bytes, its labels in `language` (en, zh-Hans)."""
    tag = i18n.normalize(language)
    if tag is None:
        raise ValueError(f"unsupported language {language!r} (en, zh-Hans)")
    font = find_font()
    if font is None:
        raise CiomsFontError(
            f"no Unicode font for the CIOMS form: install the Debian package {FONT_PACKAGE}"
        )
    with i18n.use(tag):
        pdf = _Form(case, font)
        pdf.set_title(f"CIOMS I {case.report_id}")
        pdf.set_creator("pv-tracker")
        pdf.set_lang("zh-Hans" if tag == "zh-Hans" else "en")
        pdf.set_creation_date(_creation_datetime(case))
        pdf.add_page()
        _page_one(pdf, case)
        _continuations(pdf)
        _footers(pdf)
        return bytes(pdf.output())


def write_cioms(case: Case, path: str | Path, language: str = "en") -> Path:
    """Write the CIOMS I form of `case` to `path`; returns the path."""
    out = Path(path)
    out.write_bytes(build_cioms(case, language=language))
    return out
