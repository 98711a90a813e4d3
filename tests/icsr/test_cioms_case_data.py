"""The CIOMS I form with the SAE case data of issue 16 (pv.icsr.cioms): a rich follow-up
case made by hand (Chinese text, a death, hospitalisation, several concomitant
medications, tests and history rows, per-drug dechallenge / rechallenge / indication, the
reporter's contact, the changes since the previous report), every value found in the
PDF's text on the page it belongs to; the check boxes read back; determinism; a case with
nothing optional.

Reading the text back: tests/icsr/pdftext.py (pypdf's content stream and each font's
ToUnicode map), white space removed. A checked box prints an "X" just before its label.
"""

from __future__ import annotations

from datetime import date

import pytest

from pv import i18n
from pv.icsr import cioms
from pv.icsr.case import (
    MEDDRA_VERSION,
    Case,
    Change,
    ConMed,
    Death,
    Dose,
    HistoryItem,
    LabTest,
    Patient,
    Reaction,
    Reporter,
    Study,
    SuspectDrug,
)
from tests.icsr.pdftext import norm, page_boxes, page_texts

NARRATIVE = (
    "受试者于2024-06-01开始接受研究药物治疗。2024-06-10出现发热、呼吸困难，当日收住院。"
    "胸部CT示双肺弥漫性磨玻璃影，诊断为重症肺炎，予美罗培南抗感染及无创通气支持。"
    "2024-06-12研究者停用研究药物。病情持续进展，于2024-06-15死于呼吸衰竭。"
)

CONMEDS = (
    ConMed("泼尼松 (prednisone)", 10, "mg", "ORAL", "2023-01-05", None, "IgG4相关性疾病"),
    ConMed("奥美拉唑 (omeprazole)", 20, "mg", "ORAL", "2024-05-01", "2024-06-15", "胃黏膜保护"),
    ConMed("Metformin", 0.5, "g", "ORAL", "2019-03", "2024-06-10", "type 2 diabetes"),
    ConMed("美罗培南 (meropenem)", None, None, None, None, None, None),
)
TESTS = (
    LabTest("C反应蛋白 (CRP)", "2024-06-10", "152", "mg/L", "0", "10"),
    LabTest("白细胞计数 (WBC)", "2024-06-10", "15.3", "10^9/L", "3.5", "9.5"),
    LabTest("Procalcitonin", "2024-06-11", "2.4", "ng/mL", None, "0.5"),
    LabTest("胸部CT", "2024-06-10", "双肺弥漫性磨玻璃影", None, None, None),
    LabTest("Haemoglobin", "2024-06-12", "118", "g/L", "130", None),
)
HISTORY = (
    HistoryItem("2型糖尿病", "2019-03", True),
    HistoryItem("Hypertension", "2015", True),
    HistoryItem("阑尾切除术", "1998-07-02", False),
    HistoryItem("青霉素过敏", None, None),
)
CHANGES = (
    Change("reaction.outcome", "NOT RECOVERED/NOT RESOLVED", "FATAL"),
    Change("death", None, {"date": "2024-06-15", "cause": "呼吸衰竭", "autopsy": "N"}),
    Change("tests[3]", None, {"name": "胸部CT", "date": "2024-06-10"}),
    Change("reaction.criteria.aesdth", False, True),
)
NOTE = "受试者死亡；补充尸检信息及实验室检查结果。"


def rich_case(**changes: object) -> Case:
    """A follow-up (version 3, follow-up no. 2) of a fatal case with every SAE field."""
    values: dict[str, object] = dict(
        case_id="CN-PVTRACKER-IGG4-RD-88",
        report_id="CN-PVTRACKER-IGG4-RD-88-V3",
        version=3,
        initial=False,
        report_kind="followup_8",
        first_received=date(2024, 6, 11),
        most_recent=date(2024, 6, 16),
        created=date(2024, 6, 17),
        study=Study(
            id="IGG4-RD",
            registration="NCT04660565",
            registration_country="US",
            title="利妥昔单抗治疗IgG4相关性疾病",
            sponsor="北京协和医院",
        ),
        sender="北京协和医院临床药理研究所，北京市东城区帅府园1号",
        reporter=Reporter(
            name="李明",
            qualification="1",
            organisation="北京协和医院风湿免疫科",
            country="CN",
            contact="+86 10 6915 0000; liming@example.cn",
        ),
        patient=Patient(
            id="IGG4-RD-101-0012", subjid="0012", age=67, sex="M", weight_kg=72.0, arm="A"
        ),
        reaction=Reaction(
            term="重症肺炎",
            lang="zh",
            term_en="Severe pneumonia",
            llt_code="10035664",
            llt_name="Pneumonia",
            soc="Infections and infestations",
            meddra_version=MEDDRA_VERSION,
            grade=5,
            start="2024-06-10",
            end="2024-06-15",
            ongoing=False,
            outcome="FATAL",
            criteria={
                "aesdth": True,
                "aeslife": True,
                "aeshosp": True,
                "aesdisab": False,
                "aescong": False,
                "aesmie": False,
            },
        ),
        drugs=(
            SuspectDrug(
                key="rtx",
                name="利妥昔单抗 (rituximab)",
                role="suspect",
                doses=(Dose(1000, "mg", "INTRAVENOUS", "ONCE", "2024-06-01T09:00", None),),
                first_dose="2024-06-01T09:00",
                last_dose="2024-06-01T09:00",
                action="DRUG WITHDRAWN",
                investigator_causality="POSSIBLY RELATED",
                sponsor_causality="possible",
                expectedness="unexpected",
                dechallenge="no",
                rechallenge="na",
                indication="IgG4相关性疾病",
            ),
            SuspectDrug(
                key="tcz",
                name="Tocilizumab",
                role="suspect",
                doses=(Dose(8, "mg/kg", "INTRAVENOUS", "ONCE", "2024-06-03", None),),
                first_dose="2024-06-03",
                last_dose="2024-06-03",
                action="DRUG INTERRUPTED",
                investigator_causality="UNLIKELY RELATED",
                sponsor_causality="unlikely",
                expectedness="expected",
                dechallenge="unknown",
                rechallenge="yes",
                indication=None,
            ),
        ),
        treatment="美罗培南 1 g 静脉滴注 q8h；无创通气",
        narrative=NARRATIVE,
        narrative_lang="zh",
        susar=True,
        fatal_or_life_threatening=True,
        hospital_admission="2024-06-10",
        hospital_discharge="2024-06-15",
        history=HISTORY,
        conmeds=CONMEDS,
        tests=TESTS,
        death=Death("2024-06-15", "呼吸衰竭", "Y", "弥漫性肺泡损伤"),
        changes=CHANGES,
        note=NOTE,
    )
    values.update(changes)
    return Case(**values)  # type: ignore[arg-type]


# ---- reading the form back ------------------------------------------------------------


def _t(language: str, msgid: str, **values: object) -> str:
    with i18n.use(language):
        return norm(i18n.gettext(msgid, **values))


def _box(boxes: list[str], label: str) -> str:
    """The text of the one framed field that starts with `label` (label removed)."""
    found = [b for b in boxes if b.startswith(label)]
    assert len(found) == 1, (label, found)
    return found[0][len(label) :]


def _bodies(data: bytes, case: Case, language: str = "en") -> list[str]:
    """Each page's text without the running head of a continuation page and the footer."""
    pages = page_texts(data)
    head = _t(language, cioms.RUNNING_HEAD, case=case.case_id)
    out = []
    for n, text in enumerate(pages, 1):
        foot = norm(case.report_id) + _t(language, cioms.PAGE, page=n, pages=len(pages))
        assert text.endswith(foot), (n, text[-80:])
        text = text[: -len(foot)]
        if n > 1:
            assert text.startswith(head)
            text = text[len(head) :]
        out.append(text)
    return out


def _sections(data: bytes, case: Case, labels: list[str], language: str = "en") -> dict:
    """The continuation sections: {field label: (page, text)}. The continuation pages
    hold only sections, each a heading "<label> (continued)" and the rest of its text."""
    bodies = _bodies(data, case, language)
    headings = {_t(language, cioms.CONTINUATION_OF, field=i18n_label): i18n_label
                for i18n_label in labels}  # fmt: skip
    found: dict[str, tuple[int, str]] = {}
    stream = [(n, body) for n, body in enumerate(bodies, 1) if n > 1]
    current: str | None = None
    for n, body in stream:
        rest = body
        while rest:
            starts = [(rest.find(h), h) for h in headings if rest.find(h) >= 0]
            nxt = min(starts) if starts else None
            text = rest if nxt is None else rest[: nxt[0]]
            if current is not None and text:
                page, before = found[current]
                found[current] = (page, before + text)
            if nxt is None:
                break
            current = headings[nxt[1]]
            found[current] = (n, "")
            rest = rest[nxt[0] + len(nxt[1]) :]
    return found


def _whole(boxes: list[str], sections: dict, label: str, value: str, language: str = "en"):  # type: ignore[no-untyped-def]
    """`value` is in its box in full, or starts there and goes on, in full, in the box's
    continuation section, the box saying on which page that section starts."""
    text, want = _box(boxes, norm(label)), norm(value)
    if text == want:
        assert label not in sections, label
        return None
    page, rest = sections[label]
    note = _t(language, cioms.CONTINUED, page=page)
    assert text.endswith(note), (label, text[-60:])
    shown = text[: -len(note)]
    assert want.startswith(shown), (label, shown, want)
    assert rest == want[len(shown) :], (label, rest, want[len(shown) :])
    return page


def _labels(language: str) -> dict[str, str]:
    with i18n.use(language):
        return {m: i18n.gettext(m) for m in (
            cioms.F7_13, cioms.F14, cioms.F15, cioms.F16, cioms.F17, cioms.F18, cioms.F19,
            cioms.F22, cioms.F23, cioms.F24A, cioms.F24D, cioms.SPONSOR_COMMENT, cioms.F20,
            cioms.F21, *(t for _, t in cioms.CRITERIA),
        )}  # fmt: skip


@pytest.fixture(scope="module")
def rich_en() -> bytes:
    return cioms.build_cioms(rich_case())


# ---- the hand-written values of the rich case (English labels) ---------------------------

REACTION_EN = [
    "Reported term: 重症肺炎",
    "English term: Severe pneumonia",
    "MedDRA 20.1 LLT: Pneumonia (10035664)",
    "System organ class: Infections and infestations",
    "CTCAE grade: 5",
    "Onset: 2024-06-10; end: 2024-06-15",
    "Outcome: Fatal",
    "Hospital admission: 2024-06-10; discharge: 2024-06-15",
    "Relevant tests and laboratory data:",
    "1) 2024-06-10 C反应蛋白 (CRP): 152 mg/L (normal range: 0–10)",
    "2) 2024-06-10 白细胞计数 (WBC): 15.3 10^9/L (normal range: 3.5–9.5)",
    "3) 2024-06-11 Procalcitonin: 2.4 ng/mL (normal range: ≤ 0.5)",
    "4) 2024-06-10 胸部CT: 双肺弥漫性磨玻璃影",
    "5) 2024-06-12 Haemoglobin: 118 g/L (normal range: ≥ 130)",
    "Narrative: " + NARRATIVE,
    "Treatment of the reaction: 美罗培南 1 g 静脉滴注 q8h；无创通气",
]
CONMEDS_EN = [
    "1) 泼尼松 (prednisone): 10 mg; route: ORAL; 2023-01-05 to ongoing; indication: IgG4相关性疾病",
    "2) 奥美拉唑 (omeprazole): 20 mg; route: ORAL; 2024-05-01 to 2024-06-15; "
    "indication: 胃黏膜保护",
    "3) Metformin: 0.5 g; route: ORAL; 2019-03 to 2024-06-10; indication: type 2 diabetes",
    "4) 美罗培南 (meropenem): unknown; route: unknown; unknown to unknown; indication: unknown",
]
HISTORY_EN = [
    "1) 2型糖尿病 (start: 2019-03; ongoing: Yes)",
    "2) Hypertension (start: 2015; ongoing: Yes)",
    "3) 阑尾切除术 (start: 1998-07-02; ongoing: No)",
    "4) 青霉素过敏 (start: unknown; ongoing: unknown)",
]
CHANGES_EN = [
    "Note: " + NOTE,
    "reaction.outcome: NOT RECOVERED/NOT RESOLVED → FATAL",
    "death: — → {date: 2024-06-15, cause: 呼吸衰竭, autopsy: N}",
    "tests[3]: — → {name: 胸部CT, date: 2024-06-10}",
    "reaction.criteria.aesdth: No → Yes",
]
CAUSALITY_EN = [
    "利妥昔单抗 (rituximab) (suspect drug): investigator causality: Possibly related; sponsor "
    "causality (WHO-UMC): possible; expectedness: unexpected",
    "Tocilizumab (suspect drug): investigator causality: Unlikely related; sponsor causality "
    "(WHO-UMC): unlikely; expectedness: expected",
    "SUSAR: Yes",
]


def test_every_field_of_a_rich_follow_up(rich_en: bytes) -> None:
    """Fields 1-25 of the rich case, each in its own box on page 1 (or continued from it)."""
    case = rich_case()
    boxes = page_boxes(rich_en)[0]
    sections = _sections(rich_en, case, list(_labels("en").values()) + [
        "FOLLOW-UP NO. 2: CHANGES SINCE THE PREVIOUS REPORT"])  # fmt: skip
    box = lambda label: _box(boxes, norm(label))  # noqa: E731
    # 1-6
    assert box("1. PATIENT INITIALS (subject ID)") == "IGG4-RD-101-0012"
    assert box("1a. COUNTRY") == "CN"
    assert box("2. DATE OF BIRTH") == "unknown"  # not collected
    assert box("2a. AGE (years)") == "67"
    assert box("3. SEX") == "male"
    assert box("3a. WEIGHT") == "72kg"
    assert box("4-6. REACTION ONSET") == "Day10Month06Year2024"
    # 7 + 13: coding, dates, hospitalisation, the tests table, narrative, treatment
    label = "7 + 13. DESCRIBE REACTION(S) (including relevant tests/lab data)"
    _whole(boxes, sections, label, "".join(REACTION_EN))
    # 8-12: the boxes ticked, the death and hospital details under theirs
    serious = box("8-12. CHECK ALL APPROPRIATE TO ADVERSE REACTION")
    assert serious == norm(
        "X PATIENT DIED"
        "Date of death: 2024-06-15; cause of death: 呼吸衰竭"
        "Autopsy: performed; cause of death by autopsy: 弥漫性肺泡损伤"
        "X INVOLVED OR PROLONGED INPATIENT HOSPITALISATION"
        "Hospital admission: 2024-06-10; discharge: 2024-06-15"
        "INVOLVED PERSISTENT OR SIGNIFICANT DISABILITY OR INCAPACITY"
        "X LIFE THREATENING"
        "CONGENITAL ANOMALY"
        "OTHER MEDICALLY IMPORTANT CONDITION"
    )
    # 14-21, per suspect drug, numbered
    assert box("14. SUSPECT DRUG(S) (include generic name)") == norm(
        "1) 利妥昔单抗 (rituximab) 2) Tocilizumab"
    )
    assert box("15. DAILY DOSE(S)") == norm(
        "1) 1000 mg once on 2024-06-01 2) 8 mg/kg once on 2024-06-03"
    )
    assert box("16. ROUTE(S) OF ADMINISTRATION") == "1)INTRAVENOUS2)INTRAVENOUS"
    # the first drug's own indication; the second has none: the study's
    assert box("17. INDICATION(S) FOR USE") == norm(
        "1) IgG4相关性疾病 2) study indication: 利妥昔单抗治疗IgG4相关性疾病"
    )
    assert box("18. THERAPY DATES (from/to)") == norm(
        "1) 2024-06-01 to 2024-06-01 (last dose before the onset)"
        "2) 2024-06-03 to 2024-06-03 (last dose before the onset)"
    )
    assert box("19. THERAPY DURATION") == norm("1) 1 day 2) 1 day")
    # 20: the site's answers: 1) no; 2) unknown (no box ticked). 21: 1) na; 2) yes.
    assert box("20. DID REACTION ABATE AFTER STOPPING DRUG?") == "1)YESXNONA2)YESNONAunknown"
    assert box("21. DID REACTION REAPPEAR AFTER REINTRODUCTION?") == "1)YESNOXNA2)XYESNONA"
    # 22, 23: every concomitant medication and history row
    label22 = (
        "22. CONCOMITANT DRUG(S) AND DATES OF ADMINISTRATION (exclude those used to treat reaction)"
    )
    label23 = (
        "23. OTHER RELEVANT HISTORY (e.g. diagnostics, allergies, pregnancy with last month of "
        "period, etc.)"
    )
    assert _whole(boxes, sections, label22, "".join(CONMEDS_EN)) is None  # all four fit
    assert _whole(boxes, sections, label23, "".join(HISTORY_EN)) == 2  # continued
    # 24a-d, date of this report, 25a
    assert box("24a. NAME AND ADDRESS OF MANUFACTURER") == norm(case.sender)
    assert box("24b. MFR CONTROL NO.") == "CN-PVTRACKER-IGG4-RD-88"
    assert box("24c. DATE RECEIVED BY MANUFACTURER") == "2024-06-11"
    assert box("24d. REPORT SOURCE") == norm(
        "X STUDY LITERATURE X HEALTH PROFESSIONAL"  # a physician reported it
        "Study: IGG4-RD (NCT04660565)"
        "Reporter: 李明 (physician), 北京协和医院风湿免疫科, CN"
        "Reporter's contact: +86 10 6915 0000; liming@example.cn"
    )
    assert box("DATE OF THIS REPORT") == "2024-06-17"
    assert box("25a. REPORT TYPE") == norm("INITIAL X FOLLOWUP Version 3 Follow-up no. 2")
    # the sponsor's comment; the follow-up's note and changes
    _whole(boxes, sections, "SPONSOR COMMENT: CAUSALITY AND EXPECTEDNESS", "".join(CAUSALITY_EN))
    page = _whole(
        boxes, sections, "FOLLOW-UP NO. 2: CHANGES SINCE THE PREVIOUS REPORT", "".join(CHANGES_EN)
    )
    assert page == 2  # the changes do not fit their box: continued on page 2
    # the title block and the footers
    one = page_texts(rich_en)[0]
    assert norm("Study: IGG4-RD Registration: NCT04660565") in one
    assert norm("Report ID: CN-PVTRACKER-IGG4-RD-88-V3") in one
    assert one.endswith(norm("CN-PVTRACKER-IGG4-RD-88-V3 Page 1 of 2"))
