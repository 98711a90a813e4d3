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

import dataclasses
import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pypdf
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
    case_from_json,
    case_to_json,
    language_of,
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
        "Autopsy performed; cause of death by autopsy: 弥漫性肺泡损伤"
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


# ---- Chinese labels ---------------------------------------------------------------------

# The Chinese of this module's new labels (as in the translations handed in with them,
# /tmp/i16/cioms.json, merged into the catalog by the coordinator): a small catalog in
# front of the committed one until then.
ZH = {
    cioms.HOSPITALISATION: "入院日期：%(admission)s；出院日期：%(discharge)s",
    cioms.DEATH: "死亡日期：%(date)s；死亡原因：%(cause)s",
    cioms.AUTOPSIES["Y"]: "已进行尸检",
    cioms.AUTOPSY_CAUSE: "%(autopsy)s；尸检确定的死亡原因：%(cause)s",
    cioms.TESTS_HEADING: "相关检查及实验室数据：",
    cioms.TEST_RESULT: "%(date)s %(name)s：%(result)s",
    cioms.TEST_RANGE: "%(date)s %(name)s：%(result)s（正常值范围：%(range)s）",
    cioms.CONMED: (
        "%(drug)s：%(dose)s；给药途径：%(route)s；%(start)s 至 %(end)s；适应症：%(indication)s"
    ),
    cioms.HISTORY: "%(term)s（开始日期：%(start)s；持续中：%(ongoing)s）",
    cioms.REPORTER: "报告者：%(name)s（%(qualification)s），%(organisation)s，%(country)s",
    cioms.REPORTER_CONTACT: "报告者联系方式：%(contact)s",
    cioms.QUALIFICATION_LABELS["1"]: "医师",
    cioms.FOLLOWUP_NUMBER: "随访次数：%(number)s",
    cioms.CHANGES_BOX: "第 %(number)s 次随访报告：自上次报告以来的变更",
    cioms.NOTE: "备注：%(note)s",
    cioms.CHANGE: "%(field)s：%(old)s → %(new)s",
}


@pytest.fixture
def zh_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    import gettext as gettext_module

    committed = i18n.translations("zh-Hans")

    class Catalog(gettext_module.NullTranslations):
        def gettext(self, message: str) -> str:
            return ZH.get(message) or committed.gettext(message)

        def ngettext(self, singular: str, plural: str, n: int) -> str:
            return committed.ngettext(singular, plural, n)

        def pgettext(self, context: str, message: str) -> str:
            return committed.pgettext(context, message)

        def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
            return committed.npgettext(context, singular, plural, n)

    monkeypatch.setitem(i18n._catalogs, "zh-Hans", Catalog())


def test_chinese_labels(zh_catalog: None) -> None:
    """The rich case with Chinese labels: the same values, in Chinese sentences."""
    case = rich_case()
    data = cioms.build_cioms(case, language="zh-Hans")
    boxes = page_boxes(data)[0]
    changes_label = "第 2 次随访报告：自上次报告以来的变更"
    sections = _sections(data, case, [*_labels("zh-Hans").values(), changes_label], "zh-Hans")
    label = _labels("zh-Hans")
    assert all(language_of(text) == "zh" for text in label.values())
    serious = _box(boxes, norm(i18n_text("zh-Hans", cioms.F8_12)))
    died, hospital = (i18n_text("zh-Hans", cioms.CRITERIA[i][1]) for i in (0, 1))
    assert serious.startswith(
        norm(
            f"X {died}死亡日期：2024-06-15；死亡原因：呼吸衰竭"
            "已进行尸检；尸检确定的死亡原因：弥漫性肺泡损伤"
            f"X {hospital}入院日期：2024-06-10；出院日期：2024-06-15"
        )
    )
    tests = (
        "相关检查及实验室数据："
        "1) 2024-06-10 C反应蛋白 (CRP)：152 mg/L（正常值范围：0–10）"
        "2) 2024-06-10 白细胞计数 (WBC)：15.3 10^9/L（正常值范围：3.5–9.5）"
        "3) 2024-06-11 Procalcitonin：2.4 ng/mL（正常值范围：≤ 0.5）"
        "4) 2024-06-10 胸部CT：双肺弥漫性磨玻璃影"
        "5) 2024-06-12 Haemoglobin：118 g/L（正常值范围：≥ 130）"
    )
    assert norm(tests) in _box(boxes, norm(label[cioms.F7_13]))
    _whole(
        boxes,
        sections,
        label[cioms.F22],
        "1) 泼尼松 (prednisone)：10 mg；给药途径：ORAL；2023-01-05 至 持续中；"
        "适应症：IgG4相关性疾病"
        "2) 奥美拉唑 (omeprazole)：20 mg；给药途径：ORAL；2024-05-01 至 2024-06-15；"
        "适应症：胃黏膜保护"
        "3) Metformin：0.5 g；给药途径：ORAL；2019-03 至 2024-06-10；适应症：type 2 diabetes"
        "4) 美罗培南 (meropenem)：未知；给药途径：未知；未知 至 未知；适应症：未知",
        "zh-Hans",
    )
    _whole(
        boxes,
        sections,
        label[cioms.F23],
        "1) 2型糖尿病（开始日期：2019-03；持续中：是）"
        "2) Hypertension（开始日期：2015；持续中：是）"
        "3) 阑尾切除术（开始日期：1998-07-02；持续中：否）"
        "4) 青霉素过敏（开始日期：未知；持续中：未知）",
        "zh-Hans",
    )
    source = _box(boxes, norm(label[cioms.F24D]))
    assert source.endswith(
        norm(
            "报告者：李明（医师），北京协和医院风湿免疫科，CN"
            "报告者联系方式：+86 10 6915 0000; liming@example.cn"
        )
    )
    report_type = _box(boxes, norm(i18n_text("zh-Hans", cioms.F25A)))
    assert report_type.endswith(norm("随访次数：2"))
    assert f"X{norm(i18n_text('zh-Hans', cioms.FOLLOWUP))}" in report_type
    _whole(
        boxes,
        sections,
        changes_label,
        "备注：" + NOTE + "reaction.outcome：NOT RECOVERED/NOT RESOLVED → FATAL"
        "death：— → {date: 2024-06-15, cause: 呼吸衰竭, autopsy: N}"
        "tests[3]：— → {name: 胸部CT, date: 2024-06-10}"
        "reaction.criteria.aesdth：否 → 是",
        "zh-Hans",
    )


def i18n_text(language: str, msgid: str) -> str:
    with i18n.use(language):
        return i18n.gettext(msgid)


# ---- long text: continuation pages ------------------------------------------------------


def test_long_text_goes_on_over_pages() -> None:
    """Thirty concomitant medications, twenty-five history rows, twenty tests, a narrative
    of 150 sentences and forty changes: every box starts on page 1, says on which page it
    goes on, and its whole text is there, in the form's order, over several pages."""
    narrative = " ".join(f"Day {i}: the patient was reviewed (note {i})." for i in range(150))
    conmeds = tuple(
        ConMed(f"Medicine {i}", i, "mg", "ORAL", "2024-01-01", None, f"reason {i}")
        for i in range(1, 31)
    )
    history = tuple(HistoryItem(f"Condition {i}", f"20{i:02d}", i % 2 == 0) for i in range(1, 26))
    tests = tuple(LabTest(f"Test {i}", "2024-06-10", str(i), "U/L", "1", "9") for i in range(1, 21))
    changes = tuple(Change(f"conmeds[{i}].dose", i, i + 1) for i in range(40))
    case = rich_case(
        narrative=narrative, conmeds=conmeds, history=history, tests=tests, changes=changes
    )
    data = cioms.build_cioms(case)
    pages = page_texts(data)
    assert len(pages) >= 4
    boxes = page_boxes(data)[0]
    changes_label = "FOLLOW-UP NO. 2: CHANGES SINCE THE PREVIOUS REPORT"
    sections = _sections(data, case, [*_labels("en").values(), changes_label])
    reaction = [
        *REACTION_EN[:8],
        "Relevant tests and laboratory data:",
        *(f"{i}) 2024-06-10 Test {i}: {i} U/L (normal range: 1–9)" for i in range(1, 21)),
        "Narrative: " + narrative,
        REACTION_EN[-1],
    ]
    label = _labels("en")
    first = _whole(boxes, sections, label[cioms.F7_13], "".join(reaction))
    p22 = _whole(
        boxes,
        sections,
        label[cioms.F22],
        "".join(
            f"{i}) Medicine {i}: {i} mg; route: ORAL; 2024-01-01 to ongoing; indication: reason {i}"
            for i in range(1, 31)
        ),
    )
    p23 = _whole(
        boxes,
        sections,
        label[cioms.F23],
        "".join(
            f"{i}) Condition {i} (start: 20{i:02d}; ongoing: {'Yes' if i % 2 == 0 else 'No'})"
            for i in range(1, 26)
        ),
    )
    p_changes = _whole(
        boxes,
        sections,
        changes_label,
        "Note: " + NOTE + "".join(f"conmeds[{i}].dose: {i} → {i + 1}" for i in range(40)),
    )
    # the sections follow the form's order, each on the page its box names
    assert first == 2
    assert first <= p22 <= p23 <= p_changes <= len(pages)
    for n, text in enumerate(pages, 1):
        assert text.endswith(norm(f"Page {n} of {len(pages)}"))


# ---- determinism ------------------------------------------------------------------------

BUILD = """
import hashlib, sys
from pv.icsr import cioms
from tests.icsr.test_cioms_case_data import rich_case
sys.stdout.write(hashlib.sha256(cioms.build_cioms(rich_case(), language=sys.argv[1])).hexdigest())
"""


def test_same_case_same_bytes(rich_en: bytes) -> None:
    """The same case gives the same bytes: in this process, in another one (another hash
    seed), and after a freeze and thaw (a report version's snapshot)."""
    import hashlib

    assert cioms.build_cioms(rich_case()) == rich_en
    thawed = case_from_json(json.loads(json.dumps(case_to_json(rich_case()))))
    assert cioms.build_cioms(thawed) == rich_en
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", BUILD, "en"], cwd=root, env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert out.stdout == hashlib.sha256(rich_en).hexdigest()
    # the creation date is the case's: midnight UTC of the date, or the date-time given
    reader = pypdf.PdfReader(io.BytesIO(rich_en))
    assert reader.metadata is not None
    assert reader.metadata.creation_date == datetime(2024, 6, 17, tzinfo=UTC)
    at = datetime(2024, 6, 17, 8, 30, 5, tzinfo=UTC)
    timed = cioms.build_cioms(rich_case(created=at))
    assert timed != rich_en
    meta = pypdf.PdfReader(io.BytesIO(timed)).metadata
    assert meta is not None and meta.creation_date == at
    assert _box(page_boxes(timed)[0], "DATEOFTHISREPORT") == "2024-06-17"
    assert cioms.build_cioms(rich_case(created=at)) == timed
    # a different case, different bytes
    assert cioms.build_cioms(rich_case(note="another note")) != rich_en


# ---- nothing optional -------------------------------------------------------------------


def bare_case() -> Case:
    """An initial report with nothing optional: no case data, no coding, no dates."""
    drug = SuspectDrug("x", "Drug X", "suspect", (), None, None, None, None, None, None)
    return rich_case(
        version=1,
        initial=True,
        report_id="CN-PVTRACKER-IGG4-RD-88-V1",
        reporter=Reporter(name=None, qualification=None, organisation=None, country=None),
        patient=Patient(
            id="IGG4-RD-101-0012", subjid="0012", age=None, sex=None, weight_kg=None, arm=None
        ),  # fmt: skip
        reaction=dataclasses.replace(
            rich_case().reaction,
            term_en=None,
            llt_code=None,
            llt_name=None,
            soc=None,
            grade=None,
            start=None,
            end=None,
            outcome=None,
            criteria=dict.fromkeys(rich_case().reaction.criteria, False),
        ),  # fmt: skip
        drugs=(drug,),
        treatment=None,
        narrative=None,
        hospital_admission=None,
        hospital_discharge=None,
        history=(),
        conmeds=(),
        tests=(),
        death=None,
        changes=(),
        note=None,
        study=dataclasses.replace(rich_case().study, title="", registration=None),
    )


def test_nothing_optional() -> None:
    data = cioms.build_cioms(bare_case())
    pages = page_texts(data)
    assert len(pages) == 1  # nothing to continue
    boxes = page_boxes(data)[0]
    box = lambda label: _box(boxes, norm(label))  # noqa: E731
    for label in ("1a. COUNTRY", "2. DATE OF BIRTH", "2a. AGE (years)", "3. SEX", "3a. WEIGHT"):
        assert box(label) == "unknown", label
    assert box("4-6. REACTION ONSET") == "DayunknownMonthunknownYearunknown"
    assert box("7 + 13. DESCRIBE REACTION(S) (including relevant tests/lab data)") == norm(
        "Reported term: 重症肺炎"
        "MedDRA 20.1 LLT: not coded"
        "CTCAE grade: unknown"
        "Onset: unknown; end: unknown"
        "Outcome: unknown"
        "Relevant tests and laboratory data: none recorded"
        "Narrative: none recorded"
        "Treatment of the reaction: none recorded"
    )  # no hospital line without dates
    assert box("8-12. CHECK ALL APPROPRIATE TO ADVERSE REACTION") == norm(
        "PATIENT DIED INVOLVED OR PROLONGED INPATIENT HOSPITALISATION INVOLVED PERSISTENT OR "
        "SIGNIFICANT DISABILITY OR INCAPACITY LIFE THREATENING CONGENITAL ANOMALY OTHER "
        "MEDICALLY IMPORTANT CONDITION"
    )  # no box ticked, no death details
    assert box("14. SUSPECT DRUG(S) (include generic name)") == "DrugX"
    for label in (
        "15. DAILY DOSE(S)",
        "16. ROUTE(S) OF ADMINISTRATION",
        "17. INDICATION(S) FOR USE",  # no indication, no study title
        "18. THERAPY DATES (from/to)",
        "19. THERAPY DURATION",
    ):
        assert box(label) == "unknown", label
    assert box("20. DID REACTION ABATE AFTER STOPPING DRUG?") == "YESNONAunknown"
    assert box("21. DID REACTION REAPPEAR AFTER REINTRODUCTION?") == "YESNONAunknown"
    assert box(
        "22. CONCOMITANT DRUG(S) AND DATES OF ADMINISTRATION (exclude those used to treat reaction)"
    ) == norm("none recorded")
    assert box(
        "23. OTHER RELEVANT HISTORY (e.g. diagnostics, allergies, pregnancy with last month of "
        "period, etc.)"
    ) == norm("none recorded")
    # a reporter of unknown qualification: STUDY only
    assert box("24d. REPORT SOURCE") == norm(
        "X STUDY LITERATURE HEALTH PROFESSIONAL Study: IGG4-RD"
        "Reporter: unknown (unknown), unknown, unknown"
    )
    assert box("25a. REPORT TYPE") == norm("X INITIAL FOLLOWUP Version 1")
    # an initial report has no box of changes
    assert not [b for b in boxes if b.startswith("FOLLOW-UP")]
    assert "Follow-up" not in pages[0] and "Dateofdeath" not in pages[0]


def test_death_without_autopsy_and_no_discharge() -> None:
    case = rich_case(
        death=Death(None, None, None, None), hospital_discharge=None, hospital_admission="2024-06"
    )
    boxes = page_boxes(cioms.build_cioms(case))[0]
    serious = _box(boxes, norm("8-12. CHECK ALL APPROPRIATE TO ADVERSE REACTION"))
    assert serious.startswith(
        norm(
            "X PATIENT DIED Date of death: unknown; cause of death: unknown"
            "X INVOLVED OR PROLONGED INPATIENT HOSPITALISATION"
            "Hospital admission: 2024-06; discharge: unknown"
        )
    )
    case = rich_case(death=Death("2024-06-15", "呼吸衰竭", "N", None))
    serious = _box(
        page_boxes(cioms.build_cioms(case))[0],
        norm("8-12. CHECK ALL APPROPRIATE TO ADVERSE REACTION"),
    )
    assert norm("呼吸衰竭Autopsy not performedX INVOLVED") in serious


def test_long_cause_of_death_goes_on() -> None:
    cause = "Acute respiratory distress syndrome secondary to severe pneumonia, " * 12
    case = rich_case(death=Death("2024-06-15", cause, "Y", "diffuse alveolar damage"))
    data = cioms.build_cioms(case)
    died = "PATIENT DIED"
    sections = _sections(
        data, case, [*_labels("en").values(), "FOLLOW-UP NO. 2: CHANGES SINCE THE PREVIOUS REPORT"]
    )
    page, rest = sections[died]
    serious = _box(page_boxes(data)[0], norm("8-12. CHECK ALL APPROPRIATE TO ADVERSE REACTION"))
    # (the note "continued on page N" is drawn once the page is known: last in the box)
    note = _t("en", cioms.CONTINUED, page=page)
    assert serious.startswith("XPATIENTDIED") and serious.endswith(note)
    hospital = norm("X INVOLVED OR PROLONGED INPATIENT HOSPITALISATION")
    shown = serious[len("XPATIENTDIED") : serious.index(hospital)]
    want = norm(
        f"Date of death: 2024-06-15; cause of death: {cause}"
        "Autopsy performed; cause of death by autopsy: diffuse alveolar damage"
    )
    assert shown and shown + rest == want
    # the boxes after it are still on the form, ticked as before
    assert serious[serious.index(hospital) : -len(note)] == norm(
        "X INVOLVED OR PROLONGED INPATIENT HOSPITALISATION"
        "Hospital admission: 2024-06-10; discharge: 2024-06-15"
        "INVOLVED PERSISTENT OR SIGNIFICANT DISABILITY OR INCAPACITY"
        "X LIFE THREATENING CONGENITAL ANOMALY OTHER MEDICALLY IMPORTANT CONDITION"
    )


# ---- blinded ----------------------------------------------------------------------------


def test_blinded_follow_up_masks_study_drugs_everywhere() -> None:
    changes = (
        *CHANGES,
        Change("drugs[1].name", "Tocilizumab", "Tocilizumab SC"),
        Change("drugs[2]", None, {"name": "Secret drug", "role": "suspect"}),
        Change("patient.arm", None, "A"),
        Change("drugs[0].dechallenge", "unknown", "no"),
    )
    data = cioms.build_cioms(rich_case(blinded=True, changes=changes))
    text = "".join(page_texts(data))
    # (the study's title may name the product: it says nothing of the subject's arm)
    for secret in ("rituximab", "Tocilizumab", "Secretdrug"):
        assert secret not in text, secret
    boxes = page_boxes(data)[0]
    assert _box(boxes, norm("14. SUSPECT DRUG(S) (include generic name)")) == norm(
        "1) blinded study drug 2) blinded study drug"
    )
    assert norm("drugs[1].name: blinded study drug → blinded study drug") in text
    assert norm("drugs[2]: blinded study drug → blinded study drug") in text
    assert norm("patient.arm: blinded study drug → blinded study drug") in text
    assert norm("drugs[0].dechallenge: unknown → no") in text  # not a name: shown
    # the concomitant medications are not study drugs: named
    assert norm("泼尼松 (prednisone)") in text


# ---- fields 20 and 21 from the case data ------------------------------------------------


def test_challenge_answers_of_the_case_data() -> None:
    """The site's answer wins over the rule from action and outcome; "unknown" ticks no
    box; no answer: the rule (pv.icsr.cioms docstring)."""
    withdrawn = rich_case().drugs[0]  # DRUG WITHDRAWN; dechallenge "no", rechallenge "na"
    assert cioms.dechallenge(withdrawn, "RECOVERED/RESOLVED") == "no"  # rule would say yes
    assert cioms.rechallenge(withdrawn) == "na"
    interrupted = rich_case().drugs[1]  # DRUG INTERRUPTED; "unknown", "yes"
    assert cioms.dechallenge(interrupted, "RECOVERED/RESOLVED") is None  # rule: yes
    assert cioms.rechallenge(interrupted) == "yes"  # rule: unknown
    plain = dataclasses.replace(interrupted, dechallenge=None, rechallenge=None)
    assert cioms.dechallenge(plain, "RECOVERED/RESOLVED") == "yes"
    assert cioms.rechallenge(plain) is None
    stopped = dataclasses.replace(withdrawn, dechallenge="yes", rechallenge="no")
    boxes = page_boxes(cioms.build_cioms(rich_case(drugs=(stopped,))))[0]
    assert _box(boxes, norm("20. DID REACTION ABATE AFTER STOPPING DRUG?")) == "XYESNONA"
    assert _box(boxes, norm("21. DID REACTION REAPPEAR AFTER REINTRODUCTION?")) == "YESXNONA"
