"""The CIOMS I form (pv.icsr.cioms): built from hand-made cases, read back with pypdf.

fpdf2 embeds the CFF font (Noto Sans CJK) as a CID font whose encoding is an embedded
CMap; pypdf's extract_text does not read such an encoding (it takes the two-byte codes
byte by byte: NULs, and wrong characters past the 255th glyph), while PDF viewers do. So
the text is read back with pypdf's content stream parser and each font's ToUnicode map:
the strings of the text operators in drawing order, white space removed for comparison.
"""

from __future__ import annotations

import io
import time
from datetime import date
from typing import Any

import pypdf
import pytest

from pv import i18n
from pv.icsr import cioms
from pv.icsr.case import (
    MEDDRA_VERSION,
    Case,
    Dose,
    Patient,
    Reaction,
    Reporter,
    Study,
    SuspectDrug,
    language_of,
)
from tests.icsr.pdftext import norm, page_texts

ZH_NARRATIVE = (
    "受试者于2024-03-05 09:30开始第二次利妥昔单抗静脉输注（1000 mg），输注约40分钟后出现寒战、"
    "发热，体温最高39.2℃，伴心悸、胸闷，血压 150/95 mmHg，心率 118 次/分，血氧饱和度 95%。"
    "研究者立即暂停输注，给予苯海拉明 20 mg 肌内注射、地塞米松 5 mg 静脉注射及对乙酰氨基酚 "
    "0.5 g 口服，并予吸氧。约2小时后体温降至37.8℃，寒战消失。为进一步观察，受试者于当日收住院，"
    "住院期间查血常规：白细胞 11.2×10^9/L，中性粒细胞 85%，C 反应蛋白 35 mg/L，降钙素原 0.3 ng/mL，"
    "血培养阴性，胸片未见异常。2024-03-06 体温恢复正常，症状完全缓解，次日出院。研究者判断该事件"
    "与利妥昔单抗输注相关（输液反应），与泼尼松龙可能无关。该事件为3级，导致住院，符合严重不良事件"
    "标准。本次输注未再继续，后续是否再次给药由研究者与申办者讨论后决定。受试者既往无药物过敏史，"
    "首次输注（2024-02-20）时无不适。"
) * 3

ZH_TREATMENT = "苯海拉明 20 mg 肌内注射；地塞米松 5 mg 静脉注射；对乙酰氨基酚 0.5 g 口服；吸氧"


def _chinese_case() -> Case:
    return Case(
        case_id="CN-PVTRACKER-IGG4-RD-42",
        report_id="CN-PVTRACKER-IGG4-RD-42-V2",
        version=2,
        initial=False,
        report_kind="followup",
        first_received=date(2024, 3, 6),
        most_recent=date(2024, 3, 12),
        created=date(2024, 3, 13),
        study=Study(
            id="IGG4-RD",
            registration="NCT01234567",
            registration_country="US",
            title="利妥昔单抗治疗IgG4相关性疾病的随机对照研究",
            sponsor="北京协和医院",
        ),
        sender="北京协和医院 Müller Pharma",
        reporter=Reporter(
            name="张医生", qualification="1", organisation="北京协和医院", country="CN"
        ),
        patient=Patient(
            id="IGG4-RD-101-0007", subjid="0007", age=54, sex="F", weight_kg=61.5, arm="A"
        ),
        reaction=Reaction(
            term="输液后寒战、发热",
            lang="zh",
            term_en="Chills and fever after infusion",
            llt_code="10051792",
            llt_name="Infusion related reaction",
            soc="General disorders and administration site conditions",
            meddra_version=MEDDRA_VERSION,
            grade=3,
            start="2024-03-05T10:10",
            end="2024-03-06",
            ongoing=False,
            outcome="RECOVERED/RESOLVED",
            criteria={
                "aesdth": False,
                "aeslife": False,
                "aeshosp": True,
                "aesdisab": False,
                "aescong": False,
                "aesmie": True,
            },
        ),
        drugs=(
            SuspectDrug(
                key="rtx",
                name="利妥昔单抗 (rituximab)",
                role="suspect",
                doses=(
                    Dose(1000, "mg", "INTRAVENOUS", "ONCE", "2024-02-20T09:00", None),
                    Dose(1000, "mg", "INTRAVENOUS", "ONCE", "2024-03-05T09:30", None),
                ),
                first_dose="2024-02-20T09:00",
                last_dose="2024-03-05T09:30",
                action="DRUG INTERRUPTED",
                investigator_causality="RELATED",
                sponsor_causality="probable",
                expectedness="expected",
            ),
            SuspectDrug(
                key="pred",
                name="泼尼松龙 (prednisolone)",
                role="concomitant",
                doses=(Dose(30, "mg", "ORAL", "QD", "2024-02-01", "2024-03-31"),),
                first_dose="2024-02-01",
                last_dose="2024-03-01",
                action="DOSE NOT CHANGED",
                investigator_causality="UNLIKELY RELATED",
                sponsor_causality="unlikely",
                expectedness=None,
            ),
        ),
        treatment=ZH_TREATMENT,
        narrative=ZH_NARRATIVE,
        narrative_lang="zh",
        susar=False,
        fatal_or_life_threatening=False,
    )


def _english_case(**changes: object) -> Case:
    values: dict[str, object] = dict(
        case_id="XX-PVTRACKER-IGG4-RD-7",
        report_id="XX-PVTRACKER-IGG4-RD-7-V1",
        version=1,
        initial=True,
        report_kind="initial_15",
        first_received=date(2024, 5, 2),
        most_recent=date(2024, 5, 2),
        created=date(2024, 5, 3),
        study=Study(
            id="IGG4-RD",
            registration=None,
            registration_country=None,
            title="",
            sponsor=None,
        ),
        sender="Müller Pharma GmbH",
        reporter=Reporter(name=None, qualification="1", organisation=None, country=None),
        patient=Patient(
            id="IGG4-RD-205-0001", subjid="0001", age=None, sex=None, weight_kg=None, arm=None
        ),
        reaction=Reaction(
            term="Pneumonia",
            lang="en",
            term_en="Pneumonia",
            llt_code=None,
            llt_name=None,
            soc=None,
            meddra_version=MEDDRA_VERSION,
            grade=None,
            start="2024-04",
            end=None,
            ongoing=True,
            outcome=None,
            criteria={
                "aesdth": True,
                "aeslife": True,
                "aeshosp": False,
                "aesdisab": True,
                "aescong": True,
                "aesmie": False,
            },
        ),
        drugs=(
            SuspectDrug(
                key="pbo",
                name="Studydrug X",
                role="suspect",
                doses=(Dose(2.5, "mg/kg", None, "QD", "2024-03-28", None),),
                first_dose="2024-03-28",
                last_dose="2024-04-02",
                action="DRUG WITHDRAWN",
                investigator_causality="POSSIBLY RELATED",
                sponsor_causality=None,
                expectedness="unexpected",
            ),
        ),
        treatment=None,
        narrative="Admitted with fever and cough; chest CT showed bilateral infiltrates.",
        narrative_lang="en",
        susar=True,
        fatal_or_life_threatening=True,
    )
    values.update(changes)
    return Case(**values)  # type: ignore[arg-type]


def _bodies(data: bytes, case: Case, language: str = "en") -> list[str]:
    """The text of each page without its running head and footer (so that a text continued
    from one page to the next reads as one when they are joined)."""
    pages = page_texts(data)
    with i18n.use(language):
        head = norm(i18n.gettext(cioms.RUNNING_HEAD, case=case.case_id))
        feet = [
            norm(case.report_id + i18n.gettext(cioms.PAGE, page=n, pages=len(pages)))
            for n in range(1, len(pages) + 1)
        ]
    body = []
    for n, (text, foot) in enumerate(zip(pages, feet, strict=True), 1):
        assert text.endswith(foot)
        text = text[: -len(foot)]
        if n > 1:
            assert text.startswith(head)
            text = text[len(head) :]
        body.append(text)
    return body


def _fonts(data: bytes) -> list[tuple[str, str]]:
    """(BaseFont, font file key) of every font of every page."""
    found = []
    reader = pypdf.PdfReader(io.BytesIO(data))
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for ref in resources["/Font"].values():
            font = ref.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                keys = [k for k in descriptor if k.startswith("/FontFile")]
                found.append((str(font["/BaseFont"]), ",".join(keys)))
    return found


def _split_across(pages: list[str], value: str) -> int:
    """Assert that `value` begins on page 1 and goes on, in full, after it (`pages`: the
    pages' bodies); the number of characters (white space removed) printed on page 1."""
    want = norm(value)
    first = pages[0]
    k = 0
    while k < len(want) and want[: k + 1] in first:
        k += 1
    assert 0 < k < len(want), "the text should start on page 1 and be continued"
    assert want[k:] in "".join(pages[1:])
    return k


@pytest.fixture(scope="module")
def chinese() -> tuple[bytes, float]:
    started = time.perf_counter()
    data = cioms.build_cioms(_chinese_case(), language="zh-Hans")
    return data, time.perf_counter() - started


@pytest.fixture(scope="module")
def english() -> bytes:
    return cioms.build_cioms(_english_case())


def _labels(language: str, *msgids: str) -> list[str]:
    with i18n.use(language):
        return [norm(i18n.gettext(m)) for m in msgids]


def test_chinese_case_fields(chinese: tuple[bytes, float]) -> None:
    data, seconds = chinese
    assert data.startswith(b"%PDF-")
    assert seconds < 30  # not pathological (about a second here)
    pages = page_texts(data)
    assert len(pages) >= 2
    one = pages[0]
    for value in (
        "IGG4-RD-101-0007",  # 1: subject id
        "CN",  # 1a
        "54",  # 2a
        "61.5kg",  # 3a
        "输液后寒战、发热",  # reported term as written
        "Chillsandfeverafterinfusion",  # its English
        "Infusion related reaction (10051792)",  # LLT name and code
    ):
        assert norm(value) in one, value
    assert f"MedDRA{MEDDRA_VERSION}" in one
    assert "2024-03-05" in one and "2024-03-06" in one  # onset and end
    # 4-6: the onset's day, month and year in their boxes
    with i18n.use("zh-Hans"):
        day, month, year = (norm(name) for name in cioms.date_part_names())
    assert f"{day}05{month}03{year}2024" in one
    # 14-19: the suspect drug
    assert norm("利妥昔单抗 (rituximab)") in one
    assert "1000mg" in one and "2024-02-20" in one
    assert "INTRAVENOUS" in one
    with i18n.use("zh-Hans"):
        duration = norm(i18n.ngettext("%(num)d day", "%(num)d days", 15))
        indication = norm(i18n.gettext(cioms.INDICATION, title=_chinese_case().study.title))
        dates = norm(i18n.gettext(cioms.THERAPY_DATES, start="2024-02-20", end="2024-03-05"))
    assert duration in one and indication in one and dates in one
    # 22: the concomitant drug and its dates
    assert norm("泼尼松龙 (prednisolone)") in one and "2024-02-01" in one
    # 24: manufacturer
    assert norm("北京协和医院 Müller Pharma") in one
    assert "CN-PVTRACKER-IGG4-RD-42" in one
    assert "2024-03-06" in one and "2024-03-13" in one
    assert "NCT01234567" in one
    # the narrative starts on page 1 and goes on, in full, on the next page(s)
    with i18n.use("zh-Hans"):
        continued = norm(i18n.gettext(cioms.CONTINUED, page=2))
    assert continued in one
    bodies = _bodies(data, _chinese_case(), "zh-Hans")
    _split_across(bodies, ZH_NARRATIVE)
    assert norm(ZH_TREATMENT) in "".join(bodies)


def test_check_boxes(chinese: tuple[bytes, float], english: bytes) -> None:
    """A checked box prints an X just before its label; an empty one nothing."""
    for data, case, language in (
        (chinese[0], _chinese_case(), "zh-Hans"),
        (english, _english_case(), "en"),
    ):
        one = page_texts(data)[0]
        with i18n.use(language):
            for code, text in cioms.CRITERIA:
                shown = norm(i18n.gettext(text))
                assert shown in one
                checked = case.reaction.criteria[code]
                assert (f"X{shown}" in one) is checked, (language, code)
            initial = norm(i18n.gettext(cioms.INITIAL))
            followup = norm(i18n.gettext(cioms.FOLLOWUP))
            study = norm(i18n.gettext(cioms.SOURCES[0][1]))
            literature = norm(i18n.gettext(cioms.SOURCES[1][1]))
        assert (f"X{initial}" in one) is case.initial
        assert (f"X{followup}" in one) is (not case.initial)
        assert f"X{study}" in one and f"X{literature}" not in one


def test_abatement_and_reappearance() -> None:
    """Field 20 and 21 answers (the rule of the module docstring), on the form too."""
    chinese_case, english_case = _chinese_case(), _english_case()
    rtx = chinese_case.drugs[0]
    assert cioms.dechallenge(rtx, "RECOVERED/RESOLVED") == "yes"  # interrupted, resolved
    assert cioms.dechallenge(rtx, "NOT RECOVERED/NOT RESOLVED") == "no"
    assert cioms.dechallenge(rtx, "FATAL") == "no"
    assert cioms.dechallenge(rtx, None) is None
    assert cioms.rechallenge(rtx) is None  # interrupted: reintroduction not recorded
    pred = chinese_case.drugs[1]
    assert cioms.dechallenge(pred, "RECOVERED/RESOLVED") == "na"  # never stopped
    assert cioms.rechallenge(pred) == "na"
    withdrawn = english_case.drugs[0]
    assert cioms.dechallenge(withdrawn, None) is None  # outcome unknown
    assert cioms.rechallenge(withdrawn) == "na"  # withdrawn: not reintroduced
    unknown = SuspectDrug("x", "X", "suspect", (), None, None, None, None, None, None)
    assert cioms.dechallenge(unknown, "RECOVERED/RESOLVED") is None
    assert cioms.rechallenge(unknown) is None

    # On the form: 20 YES (checked) for the Chinese case; 21 unknown.
    one = page_texts(cioms.build_cioms(chinese_case))[0]
    assert "20.DIDREACTIONABATEAFTERSTOPPINGDRUG?XYESNONA" in one
    assert "21.DIDREACTIONREAPPEARAFTERREINTRODUCTION?YESNONAunknown" in one
    # English case: 20 unknown (outcome unknown), 21 NA.
    one = page_texts(cioms.build_cioms(english_case))[0]
    assert "20.DIDREACTIONABATEAFTERSTOPPINGDRUG?YESNONAunknown" in one
    assert "21.DIDREACTIONREAPPEARAFTERREINTRODUCTION?YESNOXNA" in one


def test_english_case_with_unknowns(english: bytes) -> None:
    pages = page_texts(english)
    assert len(pages) == 1  # nothing overflows
    one = pages[0]
    for value in (
        "SUSPECT ADVERSE REACTION REPORT",
        "1. PATIENT INITIALS (subject ID)IGG4-RD-205-0001",
        "1a. COUNTRYunknown",
        "2. DATE OF BIRTHunknown",
        "2a. AGE (years)unknown",
        "3. SEXunknown",
        "3a. WEIGHTunknown",
        "4-6. REACTION ONSETDayunknownMonth04Year2024",  # partial onset 2024-04
        "Reported term: Pneumonia",
        "MedDRA 20.1 LLT: not coded",
        "CTCAE grade: unknown",
        "Onset: 2024-04; end: ongoing",
        "Outcome: unknown",
        "Relevant tests and laboratory data: none recorded",
        "Narrative: Admitted with fever and cough; chest CT showed bilateral infiltrates.",
        "Treatment of the reaction: none recorded",
        "14. SUSPECT DRUG(S) (include generic name)Studydrug X",
        "15. DAILY DOSE(S)2.5 mg/kg once daily from 2024-03-28",
        "16. ROUTE(S) OF ADMINISTRATIONunknown",
        "17. INDICATION(S) FOR USEunknown",
        "2024-03-28 to 2024-04-02 (last dose before the onset)",
        "19. THERAPY DURATION6 days",
        "22. CONCOMITANT DRUG(S) AND DATES OF ADMINISTRATION (exclude those used to treat "
        "reaction)none recorded",
        "23. OTHER RELEVANT HISTORY (e.g. diagnostics, allergies, pregnancy with last month of "
        "period, etc.)none recorded",
        "24a. NAME AND ADDRESS OF MANUFACTURERMüller Pharma GmbH",
        "24b. MFR CONTROL NO.XX-PVTRACKER-IGG4-RD-7",
        "24c. DATE RECEIVED BY MANUFACTURER2024-05-02",
        "DATE OF THIS REPORT2024-05-03",
        "Version 1",
        "Studydrug X (suspect drug): investigator causality: Possibly related; sponsor "
        "causality (WHO-UMC): not assessed; expectedness: unexpected",
        "SUSAR: Yes",
        "Page 1 of 1",
    ):
        assert norm(value) in one, value
    assert "English term" not in one  # the term is English already


def test_causality_and_expectedness(chinese: tuple[bytes, float]) -> None:
    text = "".join(page_texts(chinese[0]))
    with i18n.use("zh-Hans"):
        for drug, role, inv, sponsor, exp in (
            ("利妥昔单抗 (rituximab)", "suspect", "RELATED", "probable", "expected"),
            ("泼尼松龙 (prednisolone)", "concomitant", "UNLIKELY RELATED", "unlikely", None),
        ):
            line = i18n.gettext(
                cioms.CAUSALITY,
                drug=drug,
                role=i18n.gettext(cioms.ROLES[role]),
                investigator=cioms.label("relationship", inv),
                sponsor=cioms.label("causality", sponsor),
                expectedness=cioms.label("expectedness", exp) or i18n.gettext(cioms.NOT_ASSESSED),
            )
            assert norm(line) in text


def test_cjk_font_embedded(chinese: tuple[bytes, float], english: bytes) -> None:
    for data in (chinese[0], english):
        fonts = _fonts(data)
        assert fonts, "a Type0 (CID) font is embedded"
        for base, files in fonts:
            assert "NotoSansCJKSC" in base
            assert files in ("/FontFile2", "/FontFile3")
    font = cioms.find_font()
    assert font is not None and font.cjk
    assert len(chinese[0]) < 400_000  # a subset, not the 20 MB collection


def test_labels_follow_the_language(chinese: tuple[bytes, float], english: bytes) -> None:
    zh = page_texts(chinese[0])[0]
    en = page_texts(english)[0]
    msgids = (
        cioms.TITLE,
        cioms.SECTION_I,
        cioms.SECTION_II,
        cioms.SECTION_III,
        cioms.SECTION_IV,
        cioms.F1,
        cioms.F4_6,
        cioms.F14,
        cioms.F15,
        cioms.F16,
        cioms.F17,
        cioms.F20,
        cioms.F21,
        cioms.F22,
        cioms.F23,
        cioms.F24A,
        cioms.F25A,
    )
    for english_label, chinese_label in zip(
        _labels("en", *msgids), _labels("zh-Hans", *msgids), strict=True
    ):
        assert english_label in en
        assert chinese_label in zh
    # The data stay as written whatever the language: the Chinese case in English labels.
    mixed = page_texts(cioms.build_cioms(_chinese_case(), language="en"))[0]
    assert norm("SUSPECT ADVERSE REACTION REPORT") in mixed
    # Words the committed catalog already translates are Chinese in the zh-Hans form (the
    # form's own labels join the catalog with this module's translations, /tmp/i18n).
    with i18n.use("zh-Hans"):
        words = [
            cioms.label("sex", "F"),
            cioms.label("outcome", "RECOVERED/RESOLVED"),
            i18n.gettext(cioms.UNKNOWN),
        ]
    for word in words:
        assert language_of(word) == "zh" and norm(word) in zh
    assert "输液后寒战、发热" in mixed
    assert norm(ZH_NARRATIVE)[:40] in mixed


def test_chinese_labels_with_a_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    """With Chinese translations in the catalog the form prints them (the merged catalog
    may not hold this module's labels yet: a small one stands in)."""
    import gettext as gettext_module

    class Catalog(gettext_module.NullTranslations):
        texts = {
            cioms.TITLE: "可疑不良反应报告",
            cioms.F15: "15. 每日剂量",
            cioms.F16: "16. 给药途径",
            cioms.F20: "20. 停药后反应是否减轻？",
            cioms.UNKNOWN: "未知",
        }

        def gettext(self, message: str) -> str:
            return self.texts.get(message, message)

    monkeypatch.setitem(i18n._catalogs, "zh-Hans", Catalog())
    one = page_texts(cioms.build_cioms(_english_case(), language="zh-Hans"))[0]
    assert "可疑不良反应报告" in one
    assert "15.每日剂量" in one and "16.给药途径" in one
    assert "20.停药后反应是否减轻？" in one
    assert "3.SEX未知" in one  # the unknowns are labels too
    assert "SUSPECTADVERSEREACTIONREPORT" not in one


def test_blinded_case_masks_drug_names() -> None:
    one = "".join(page_texts(cioms.build_cioms(_english_case(blinded=True))))
    assert "StudydrugX" not in one
    assert "blindedstudydrug" in one


def test_long_english_narrative_and_many_drugs() -> None:
    narrative = " ".join(
        f"Sentence {i} of the narrative, with Müller's findings." for i in range(200)
    )
    drugs = tuple(
        SuspectDrug(
            f"d{i}",
            f"Drug {i}",
            "suspect",
            (Dose(10 * i, "mg", "ORAL", "QD", "2024-03-01", "2024-03-10"),),
            "2024-03-01",
            "2024-03-10",
            "DRUG WITHDRAWN",
            "RELATED",
            "possible",
            "unexpected",
        )
        for i in range(1, 8)
    )
    started = time.perf_counter()
    data = cioms.build_cioms(_english_case(narrative=narrative, drugs=drugs))
    assert time.perf_counter() - started < 30
    pages = page_texts(data)
    assert len(pages) >= 3
    bodies = _bodies(data, _english_case())
    _split_across(bodies, narrative)
    text = "".join(bodies)
    for i in range(1, 8):
        assert f"{i})Drug{i}" in text
        assert f"{i}){i}0mgoncedailyfrom2024-03-01to2024-03-10" in text
        assert f"{i})ORAL" in text
    # the last answers of field 20 go on after the form
    assert norm("20. DID REACTION ABATE AFTER STOPPING DRUG? (continued)") in text
    assert pages[-1].endswith(f"Page{len(pages)}of{len(pages)}")


def test_missing_cjk_font(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cioms, "CJK_FONT_PATHS", (str(tmp_path / "none.ttc"),))
    cioms.find_font.cache_clear()
    try:
        font = cioms.find_font()
        assert font is not None and not font.cjk  # DejaVu Sans
        with pytest.raises(cioms.CiomsFontError, match="fonts-noto-cjk"):
            cioms.build_cioms(_chinese_case())
        # Latin text needs no CJK font.
        one = page_texts(cioms.build_cioms(_english_case()))[0]
        assert norm("Müller Pharma GmbH") in one
        monkeypatch.setattr(cioms, "LATIN_FONT_PATHS", ())
        cioms.find_font.cache_clear()
        with pytest.raises(cioms.CiomsFontError, match="fonts-noto-cjk"):
            cioms.build_cioms(_english_case())
    finally:
        cioms.find_font.cache_clear()


def test_write_cioms(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = cioms.write_cioms(_english_case(), tmp_path / "c.pdf", language="zh-Hans")
    assert out.read_bytes().startswith(b"%PDF-")
    with pytest.raises(ValueError):
        cioms.build_cioms(_english_case(), language="fr")
