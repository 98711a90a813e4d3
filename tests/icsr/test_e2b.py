"""pv.icsr.e2b: the E2B(R3) ICSR of a case, read back by an independent parser (e2br3) and,
for the elements e2br3 does not read, by XPath."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

import e2br3
import pytest
from e2br3.nullflavor import Null, NullFlavor
from lxml import etree

from pv.icsr.case import (
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
from pv.icsr.e2b import build_e2b, hl7_ts, sender_comments, telephone, write_e2b

H = {"h": "urn:hl7-org:v3"}
ICH = "2.16.840.1.113883.3.989.2.1"
CREATED = datetime(2024, 3, 8, 9, 30, 15, tzinfo=UTC)
CRITERIA = dict.fromkeys(("aesdth", "aeslife", "aeshosp", "aesdisab", "aescong", "aesmie"), False)
NARRATIVE_ZH = "受试者于2024年3月5日输注研究药物后约1小时出现寒战、发热，体温39.2℃，收入院观察。"


def chinese_case() -> Case:
    return Case(
        case_id="CN-PVTRACKER-ONC-101-7",
        report_id="CN-PVTRACKER-ONC-101-7",  # C.1.1 = C.1.8.1: the first sender
        version=1,
        initial=True,
        report_kind="initial_15",
        first_received=date(2024, 3, 6),
        most_recent=date(2024, 3, 7),
        created=date(2024, 3, 8),
        study=Study(
            id="ONC-101",
            registration="NCT01234567",
            registration_country="US",
            title="一项评价 X 注射液安全性的 II 期研究",
            sponsor="Acme Pharma",
        ),
        sender="Acme Pharma",
        reporter=Reporter(
            name="张伟", qualification="1", organisation="北京协和医院", country="CN"
        ),
        patient=Patient(
            id="ONC-101-001-0007", subjid="0007", age=54, sex="F", weight_kg=61.5, arm="X 200 mg"
        ),  # fmt: skip
        reaction=Reaction(
            term="输液后寒战、发热",
            lang="zh",
            term_en="Chills and fever after infusion",
            llt_code="10008531",
            llt_name="Chills",
            soc="General disorders and administration site conditions",
            meddra_version="20.1",
            grade=3,
            start="2024-03-05T14:20",
            end="2024-03-06",
            ongoing=False,
            outcome="RECOVERED/RESOLVED",
            criteria={**CRITERIA, "aeshosp": True},
        ),
        drugs=(
            SuspectDrug(
                key="X",
                name="X 注射液",
                role="suspect",
                doses=(Dose(200.0, "mg", "INTRAVENOUS", "ONCE", "2024-03-05T13:00", None),),
                first_dose="2024-03-05T13:00",
                last_dose="2024-03-05T13:00",
                action="DRUG INTERRUPTED",
                investigator_causality="RELATED",
                sponsor_causality="probable",
                expectedness="unexpected",
            ),
        ),
        treatment="给予地塞米松 5 mg 静脉注射",
        narrative=NARRATIVE_ZH,
        narrative_lang="zh",
        susar=True,
        fatal_or_life_threatening=False,
    )


def english_case() -> Case:
    """Partial dates and unknowns: no reporter name, qualification or country; no sex, age,
    weight or subject id; outcome and first dose of the concomitant drug partial/unknown."""
    return Case(
        case_id="XX-PVTRACKER-CARD-2-31",
        report_id="XX-PVTRACKER-CARD-2-31",
        version=1,
        initial=True,
        report_kind="initial_7",
        first_received=date(2023, 11, 20),
        most_recent=date(2023, 11, 20),
        created=date(2023, 11, 21),
        study=Study(
            id="CARD-2",
            registration=None,
            registration_country=None,
            title="A blinded study of Y",
            sponsor=None,
        ),  # fmt: skip
        sender="PVTRACKER",
        reporter=Reporter(name=None, qualification=None, organisation=None, country=None),
        patient=Patient(
            id="CARD-2-01-031", subjid="", age=None, sex=None, weight_kg=None, arm=None
        ),  # fmt: skip
        reaction=Reaction(
            term="Atrial fibrillation",
            lang="en",
            term_en=None,
            llt_code="10003658",
            llt_name="Atrial fibrillation",
            soc="Cardiac disorders",
            meddra_version="20.1",
            grade=4,
            start="2023-11",
            end=None,
            ongoing=True,
            outcome=None,
            criteria={**CRITERIA, "aeslife": True, "aesmie": True},
        ),
        drugs=(
            SuspectDrug(
                key="Y",
                name="Y tablets",
                role="suspect",
                doses=(
                    Dose(50.0, "mg", "ORAL", "QD", "2023-10-01", "2023-10-31"),
                    Dose(25.0, "mg/day", None, "QD", "2023-11-01", None),
                ),
                first_dose="2023-10-01",
                last_dose="2023-11-01",
                action="DOSE NOT CHANGED",
                investigator_causality="POSSIBLY RELATED",
                sponsor_causality=None,
                expectedness=None,
            ),
            SuspectDrug(
                key="ASA",
                name="Aspirin",
                role="concomitant",
                doses=(),
                first_dose="2023-10",
                last_dose=None,
                action=None,
                investigator_causality=None,
                sponsor_causality=None,
                expectedness=None,
            ),
        ),
        treatment=None,
        narrative="A 60-year-old subject developed atrial fibrillation in November 2023.",
        narrative_lang="en",
        susar=False,
        fatal_or_life_threatening=True,
        blinded=True,
    )


def follow_up(case: Case) -> Case:
    return dataclasses.replace(
        case, version=2, initial=False, report_kind="follow_up",
        most_recent=date(2024, 3, 20), created=date(2024, 3, 21),
    )  # fmt: skip


def _write(case: Case, tmp_path, name: str) -> bytes:
    path = write_e2b(case, tmp_path / name, created=CREATED)
    return path.read_bytes()


def _doc(data: bytes) -> etree._Element:
    return etree.fromstring(data)  # (1) well-formed


def _ie(doc):
    return doc.find(".//h:investigationEvent", H)


def xp(node, path: str) -> list:
    return node.xpath(path, namespaces=H)


def one(node, path: str):
    found = xp(node, path)
    assert len(found) == 1, (path, found)
    return found[0]


def obs(code: str) -> str:
    return f"[h:code[@code='{code}'][@codeSystem='{ICH}.1.19']]"


# ---------------------------------------------------------------------------- the file


def test_utf8_declaration_and_chinese_text_intact(tmp_path):
    data = _write(chinese_case(), tmp_path, "zh.xml")
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    _doc(data)
    for text in ("输液后寒战、发热", NARRATIVE_ZH, "张伟", "北京协和医院", "X 注射液"):
        assert text.encode("utf-8") in data
    assert b"&#" not in data  # no character references: the text is written as UTF-8
    assert data == build_e2b(chinese_case(), created=CREATED)  # the same case, the same bytes


def test_hl7_timestamps_keep_the_precision_collected():
    assert hl7_ts("2023") == "2023"
    assert hl7_ts("2023-11") == "202311"
    assert hl7_ts("2023-11-05") == "20231105"
    assert hl7_ts("2023-11-05T14:20") == "202311051420"
    assert hl7_ts("2023-11-05T14:20:07") == "20231105142007"
    assert hl7_ts("2023-11-05T14:20+08:00") == "202311051420+0800"
    assert hl7_ts("2023-UN-UN") == "2023"
    assert hl7_ts(date(2024, 3, 6)) == "20240306"
    assert hl7_ts(None) is None and hl7_ts("") is None and hl7_ts("unknown") is None


# ---------------------------------------------------------------------------- (2) e2br3


def test_chinese_case_read_back_by_e2br3(tmp_path):
    case = chinese_case()
    _write(case, tmp_path, "zh.xml")
    batch = e2br3.parse(tmp_path / "zh.xml")
    assert batch.batch_type.code == "1" and batch.batch_type.code_system == f"{ICH}.1.1"
    assert batch.sender == "PVTRACKER" and batch.receiver == "REGULATOR"
    assert batch.transmission_date.raw == "20240308093015+0000"
    assert len(batch.messages) == 1
    msg = batch.messages[0]
    assert msg.message_id == case.report_id
    assert (msg.sender, msg.receiver) == ("PVTRACKER", "REGULATOR")
    assert msg.creation_date.raw == "20240308093015+0000"
    icsr = msg.icsr
    assert icsr.safety_report_id == "CN-PVTRACKER-ONC-101-7"
    assert icsr.worldwide_case_id == "CN-PVTRACKER-ONC-101-7"
    assert icsr.creation_date.raw == "20240308093015+0000"
    assert (icsr.report_type.code, icsr.report_type.code_system) == ("2", f"{ICH}.1.2")
    assert icsr.first_received_date.value == case.first_received
    assert icsr.first_received_date.precision == "day"
    assert icsr.most_recent_date.value == case.most_recent
    assert icsr.nullification_amendment is None
    (source,) = icsr.primary_sources
    assert source.country.code == "CN" and source.qualification.code == "1"
    assert source.qualification.code_system == f"{ICH}.1.6"
    patient = icsr.patient
    assert patient.name == "0007"
    assert patient.age.value == Decimal(54) and patient.age.unit == "a"
    assert patient.sex.code == "2" and patient.sex.code_system == "1.0.5218"

    (reaction,) = icsr.reactions
    assert reaction.native_term == "输液后寒战、发热"
    assert reaction.native_language == "chi"
    assert reaction.translated_term == "Chills and fever after infusion"
    assert reaction.meddra_code == "10008531" and reaction.meddra_version == "20.1"
    assert reaction.meddra.code_system == "2.16.840.1.113883.6.163"
    assert reaction.start_date.raw == "202403051420"
    assert reaction.start_date.value == datetime(2024, 3, 5, 14, 20)
    assert reaction.end_date.raw == "20240306" and reaction.end_date.precision == "day"
    assert reaction.hospitalisation is True
    ni = Null(null_flavor=NullFlavor.NI)
    for name in ("results_in_death", "life_threatening", "disabling", "congenital_anomaly",
                 "other_medically_important"):  # fmt: skip
        assert getattr(reaction, name) == ni, name
    assert (reaction.outcome.code, reaction.outcome.code_system) == ("1", f"{ICH}.1.11")

    (drug,) = icsr.drugs
    assert drug.product_name == "X 注射液"
    assert (drug.role.code, drug.role.code_system) == ("1", f"{ICH}.1.13")
    assert (drug.action_taken.code, drug.action_taken.code_system) == ("1", f"{ICH}.1.15")
    (dosage,) = drug.dosages
    assert dosage.text == "200 mg INTRAVENOUS ONCE" and dosage.route_text == "INTRAVENOUS"
    (link,) = drug.relatedness
    assert link.reaction_id == reaction.id and link.reaction_index == 0
    got = [(a.source.original_text, a.method.original_text, a.result) for a in link.assessments]
    assert got == [
        ("Investigator", "Global introspection", "RELATED"),
        ("Sponsor", "WHO-UMC", "probable"),
    ]
    assert icsr.narrative == NARRATIVE_ZH + "\n\n治疗措施：给予地塞米松 5 mg 静脉注射"
    assert icsr.regional == {}


def test_english_case_read_back_by_e2br3(tmp_path):
    case = english_case()
    _write(case, tmp_path, "en.xml")
    icsr = e2br3.parse(tmp_path / "en.xml").icsrs[0]
    assert icsr.safety_report_id == case.report_id
    assert icsr.worldwide_case_id == case.case_id
    (reaction,) = icsr.reactions
    assert reaction.native_term == "Atrial fibrillation" and reaction.native_language == "eng"
    assert reaction.translated_term == "Atrial fibrillation"  # the term itself: it is English
    assert reaction.meddra_code == "10003658" and reaction.meddra_version == "20.1"
    assert reaction.start_date.raw == "202311" and reaction.start_date.precision == "month"
    assert reaction.end_date is None  # ongoing: no end date
    assert reaction.life_threatening is True and reaction.other_medically_important is True
    assert reaction.hospitalisation == Null(null_flavor=NullFlavor.NI)
    assert reaction.outcome.code == "0"  # not recorded: unknown
    suspect, concomitant = icsr.drugs
    assert suspect.product_name == "BLINDED"  # a blinded report masks the study drug
    assert suspect.role.code == "1" and concomitant.role.code == "2"
    assert concomitant.product_name == "Aspirin"
    assert suspect.action_taken.code == "4" and concomitant.action_taken is None
    assert [d.text for d in suspect.dosages] == ["50 mg ORAL QD", "25 mg/day QD"]
    assert [d.route_text for d in suspect.dosages] == ["ORAL", None]
    (link,) = suspect.relatedness
    assert [(a.source.original_text, a.result) for a in link.assessments] == [
        ("Investigator", "POSSIBLY RELATED")
    ]
    assert concomitant.relatedness == []
    assert icsr.narrative == case.narrative


# ---------------------------------------------------------------------------- XPath
# e2br3 0.1 does not read C.1.6.1, C.1.7, C.1.8.2, C.1.9.1, C.2.r.1, C.2.r.2.1, C.2.r.5,
# C.3, C.5, D.1.1.4, D.3, E.i.9, G.k.2.5, G.k.4.r.1/.2/.4/.5 nor H.5.r: read here by XPath.


def test_elements_e2br3_does_not_read(tmp_path):
    doc = _doc(_write(chinese_case(), tmp_path, "zh.xml"))
    ie = _ie(doc)
    assert one(ie, f"h:component/h:observationEvent{obs('1')}/h:value/@value") == "false"
    assert one(ie, f"h:component/h:observationEvent{obs('23')}/h:value/@value") == "true"
    first = one(ie, "h:outboundRelationship/h:relatedInvestigation[h:code/@code='1']"
                    "//h:assignedEntity/h:code")  # fmt: skip
    assert (first.get("code"), first.get("codeSystem")) == ("2", f"{ICH}.1.3")
    other_ids = one(ie, "h:subjectOf2/h:investigationCharacteristic[h:code/@code='2']/h:value")
    assert other_ids.get("nullFlavor") == "NI"
    rel = one(ie, "h:outboundRelationship[h:relatedInvestigation/h:code/@code='2']")
    assert one(rel, "h:priorityNumber/@value") == "1"  # C.2.r.5
    person = one(rel, ".//h:assignedPerson")
    assert one(person, "h:name/h:family/text()") == "张伟"
    assert xp(person, "h:name/h:given") == []
    assert one(rel, ".//h:representedOrganization/h:assignedEntity/h:representedOrganization"
                    "/h:name/text()") == "北京协和医院"  # fmt: skip
    sender = one(ie, "h:subjectOf1/h:controlActEvent/h:author/h:assignedEntity")
    assert (one(sender, "h:code/@code"), one(sender, "h:code/@codeSystem")) == ("1", f"{ICH}.1.7")
    assert one(sender, ".//h:assignedEntity/h:representedOrganization/h:name/text()") == (
        "Acme Pharma")  # fmt: skip

    role = one(ie, ".//h:primaryRole")
    study = one(role, "h:subjectOf1/h:researchStudy")
    assert one(study, "h:id/@extension") == "ONC-101"
    assert one(study, "h:id/@root") == f"{ICH}.3.5"
    assert one(study, "h:code/@code") == "1" and one(study, "h:code/@codeSystem") == f"{ICH}.1.8"
    assert one(study, "h:title/text()") == "一项评价 X 注射液安全性的 II 期研究"
    reg = one(study, "h:authorization/h:studyRegistration")
    assert one(reg, "h:id/@extension") == "NCT01234567" and one(reg, "h:id/@root") == f"{ICH}.3.6"
    assert one(reg, ".//h:governingPlace/h:code/@code") == "US"
    ident = one(role, "h:player1/h:asIdentifiedEntity")
    assert one(ident, "h:id/@extension") == "ONC-101-001-0007"
    assert one(ident, "h:id/@root") == f"{ICH}.3.10" and one(ident, "h:code/@code") == "4"
    weight = one(role, f"h:subjectOf2/h:observation{obs('7')}/h:value")
    assert (weight.get("value"), weight.get("unit")) == ("61.5", "kg")
    reaction = one(role, f"h:subjectOf2/h:observation{obs('29')}")
    assert one(reaction, "h:location//h:locatedPlace/h:code/@code") == "CN"  # E.i.9

    drug = one(role, ".//h:organizer[h:code/@code='4']/h:component/h:substanceAdministration")
    assert xp(drug, f"h:outboundRelationship2/h:observation{obs('6')}") == []  # not blinded
    dose = one(drug, "h:outboundRelationship2[@typeCode='COMP']/h:substanceAdministration")
    assert (one(dose, "h:doseQuantity/@value"), one(dose, "h:doseQuantity/@unit")) == (
        "200", "mg")  # fmt: skip
    assert one(dose, "h:effectiveTime/h:comp[@operator='A']/h:low/@value") == "202403051300"
    assert xp(dose, "h:effectiveTime/h:comp[@operator='A']/h:high") == []
    assert xp(dose, "h:effectiveTime/h:comp/h:period") == []  # once: no interval

    summary = one(ie, f"h:component/h:observationEvent{obs('36')}")
    value = one(summary, "h:value")
    assert value.get("language") == "chi"
    assert value.text == NARRATIVE_ZH + "\n\n治疗措施：给予地塞米松 5 mg 静脉注射"
    assert one(summary, "h:author/h:assignedEntity/h:code/@code") == "2"
    assert one(ie, "h:text/text()") == value.text  # H.1: as written


def test_english_case_dosages_blinding_and_no_native_summary(tmp_path):
    doc = _doc(_write(english_case(), tmp_path, "en.xml"))
    ie = _ie(doc)
    assert xp(ie, f"h:component/h:observationEvent{obs('36')}") == []  # English: H.1 only
    assert one(ie, f"h:component/h:observationEvent{obs('23')}/h:value/@value") == "false"
    study = one(ie, ".//h:researchStudy")
    assert xp(study, "h:authorization") == []  # not registered
    suspect, concomitant = xp(ie, ".//h:organizer[h:code/@code='4']/h:component/"
                                  "h:substanceAdministration")  # fmt: skip
    assert one(suspect, f"h:outboundRelationship2/h:observation{obs('6')}/h:value/@value") == (
        "true")  # fmt: skip
    first, second = xp(suspect, "h:outboundRelationship2[@typeCode='COMP']/"
                                "h:substanceAdministration")  # fmt: skip
    assert one(first, "h:effectiveTime/h:comp/h:period/@value") == "1"  # QD
    assert one(first, "h:effectiveTime/h:comp/h:period/@unit") == "d"
    assert one(first, "h:effectiveTime/h:comp[@operator='A']/h:low/@value") == "20231001"
    assert one(first, "h:effectiveTime/h:comp[@operator='A']/h:high/@value") == "20231031"
    assert one(second, "h:doseQuantity/@unit") == "mg/d"  # UCUM
    assert xp(second, "h:routeCode") == []
    only = one(concomitant, "h:outboundRelationship2[@typeCode='COMP']/h:substanceAdministration")
    assert one(only, "h:effectiveTime/h:comp[@operator='A']/h:low/@value") == "202310"
    assert xp(only, "h:doseQuantity") == [] and xp(concomitant, "h:inboundRelationship") == []


# ---------------------------------------------------------------------------- (3) mandatory

# The elements the IG makes mandatory (or required, a nullFlavor allowed) for an ICSR
# from a study, by element id -> XPath from the batch root.
IE = "h:PORR_IN049016UV/h:controlActProcess/h:subject/h:investigationEvent"
ROLE = f"{IE}/h:component/h:adverseEventAssessment/h:subject1/h:primaryRole"
REACTION = f"{ROLE}/h:subjectOf2/h:observation{obs('29')}"
AEA = f"{IE}/h:component/h:adverseEventAssessment"
MANDATORY = {
    "N.1.1": f"h:name[@code='1'][@codeSystem='{ICH}.1.1']",
    "N.1.2": f"h:id[@root='{ICH}.3.22'][@extension]",
    "N.1.3": f"h:sender/h:device/h:id[@root='{ICH}.3.13'][@extension]",
    "N.1.4": f"h:receiver/h:device/h:id[@root='{ICH}.3.14'][@extension]",
    "N.1.5": "h:creationTime[@value]",
    "N.2.r.1": f"h:PORR_IN049016UV/h:id[@root='{ICH}.3.1'][@extension]",
    "N.2.r.2": f"h:PORR_IN049016UV/h:sender/h:device/h:id[@root='{ICH}.3.11']",
    "N.2.r.3": f"h:PORR_IN049016UV/h:receiver/h:device/h:id[@root='{ICH}.3.12']",
    "N.2.r.4": "h:PORR_IN049016UV/h:creationTime[@value]",
    "C.1.1": f"{IE}/h:id[@root='{ICH}.3.1'][@extension]",
    "C.1.2": "h:PORR_IN049016UV/h:controlActProcess/h:effectiveTime[@value]",
    "C.1.3": f"{IE}/h:subjectOf2/h:investigationCharacteristic[h:code/@code='1']/h:value[@code]",
    "C.1.4": f"{IE}/h:effectiveTime/h:low[@value]",
    "C.1.5": f"{IE}/h:availabilityTime[@value]",
    "C.1.6.1": f"{IE}/h:component/h:observationEvent{obs('1')}/h:value",
    "C.1.7": f"{IE}/h:component/h:observationEvent{obs('23')}/h:value",
    "C.1.8.1": f"{IE}/h:id[@root='{ICH}.3.2'][@extension]",
    "C.1.8.2": f"{IE}/h:outboundRelationship/h:relatedInvestigation[h:code/@code='1']"
    "//h:assignedEntity/h:code[@code]",
    "C.1.9.1": f"{IE}/h:subjectOf2/h:investigationCharacteristic[h:code/@code='2']/h:value",
    "C.2.r.4": f"{IE}/h:outboundRelationship//h:asQualifiedEntity/h:code",
    "C.2.r.5": f"{IE}/h:outboundRelationship/h:priorityNumber[@value='1']",
    "C.3.1": f"{IE}/h:subjectOf1/h:controlActEvent/h:author/h:assignedEntity/h:code[@code]",
    "C.3.2": f"{IE}/h:subjectOf1//h:assignedEntity/h:representedOrganization/h:name",
    "C.5.4": f"{ROLE}/h:subjectOf1/h:researchStudy/h:code[@code]",  # when C.1.3 = 2
    "D.1": f"{ROLE}/h:player1/h:name",
    "E.i.2.1a": f"{REACTION}/h:value[@codeSystemVersion]",
    "E.i.2.1b": f"{REACTION}/h:value[@code]",
    "E.i.3.2a": f"{REACTION}/h:outboundRelationship2/h:observation{obs('34')}/h:value",
    "E.i.3.2b": f"{REACTION}/h:outboundRelationship2/h:observation{obs('21')}/h:value",
    "E.i.3.2c": f"{REACTION}/h:outboundRelationship2/h:observation{obs('33')}/h:value",
    "E.i.3.2d": f"{REACTION}/h:outboundRelationship2/h:observation{obs('35')}/h:value",
    "E.i.3.2e": f"{REACTION}/h:outboundRelationship2/h:observation{obs('12')}/h:value",
    "E.i.3.2f": f"{REACTION}/h:outboundRelationship2/h:observation{obs('26')}/h:value",
    "E.i.7": f"{REACTION}/h:outboundRelationship2/h:observation{obs('27')}/h:value[@code]",
    "G.k.1": f"{AEA}/h:component/h:causalityAssessment{obs('20')}/h:value[@code]",
    "G.k.2.2": f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='4']//h:kindOfProduct/h:name",
    "H.1": f"{IE}/h:text",
}


@pytest.mark.parametrize("make", [chinese_case, english_case], ids=["zh", "en"])
def test_mandatory_elements_in_initial_and_follow_up(tmp_path, make):
    initial, later = make(), follow_up(make())
    docs = [_doc(_write(c, tmp_path, f"{c.report_id}-{c.version}.xml")) for c in (initial, later)]
    for doc in docs:
        missing = [eid for eid, path in MANDATORY.items() if not xp(doc, path)]
        assert missing == []
        for eid in ("N.1.5", "N.2.r.4", "C.1.2"):  # to the second
            stamp = xp(doc, MANDATORY[eid])[0].get("value")
            assert len(stamp[:14]) == 14 and stamp[:14].isdigit()
    # a follow-up: the same worldwide case id AND the same C.1.1 (the IG, C.1.1: "when the
    # same sender retransmits the same case (e.g. to transmit follow-up information), C.1.1
    # usually remains constant"), its own batch number, later information
    first, second = (e2br3.parse(etree.tostring(d)) for d in docs)
    assert first.batch_number != second.batch_number
    first, second = first.icsrs[0], second.icsrs[0]
    assert first.worldwide_case_id == second.worldwide_case_id == initial.case_id
    assert first.safety_report_id == second.safety_report_id == initial.case_id
    assert second.most_recent_date.value > first.most_recent_date.value
    assert second.first_received_date.value == first.first_received_date.value
    assert second.nullification_amendment is None  # C.1.11: not a nullification


# ---------------------------------------------------------------------------- (4) unknowns


def test_null_flavors_where_unknown(tmp_path):
    data = _write(english_case(), tmp_path, "en.xml")
    icsr = e2br3.parse(data).icsrs[0]
    assert icsr.patient.name == Null(null_flavor=NullFlavor.MSK)  # no subject id: masked
    assert icsr.patient.sex == Null(null_flavor=NullFlavor.UNK)
    assert icsr.patient.age is None  # age not known: D.2.2 left out
    (source,) = icsr.primary_sources
    assert source.qualification == Null(null_flavor=NullFlavor.UNK)
    assert source.country is None
    doc = _doc(data)
    ie = _ie(doc)
    name = one(ie, "h:outboundRelationship//h:assignedPerson/h:name")
    assert [c.get("nullFlavor") for c in name] == ["UNK", "UNK"]  # C.2.r.1.2, C.2.r.1.4
    org = one(ie, "h:outboundRelationship//h:representedOrganization/h:assignedEntity"
                  "/h:representedOrganization/h:name")  # fmt: skip
    assert org.get("nullFlavor") == "UNK"  # C.2.r.2.1
    role = one(ie, ".//h:primaryRole")
    assert xp(role, f"h:subjectOf2/h:observation{obs('7')}") == []  # D.3: weight unknown
    assert xp(role, f"h:subjectOf2/h:observation{obs('29')}/h:location") == []  # E.i.9


def test_uncoded_reaction_marks_the_code_unknown(tmp_path):
    case = english_case()
    case = dataclasses.replace(case, reaction=dataclasses.replace(case.reaction, llt_code=None))
    (reaction,) = e2br3.parse(build_e2b(case, created=CREATED)).icsrs[0].reactions
    assert reaction.meddra == Null(null_flavor=NullFlavor.UNK)
    assert reaction.native_term == "Atrial fibrillation"


# ---------------------------------------------------------------------------- the SAE case
# A rich case: Chinese text, reporter contact, medical history, conmeds, tests, death,
# dechallenge / rechallenge, hospital stay; then its follow-up. Expected codes are the
# shipped CTCAE v5.0 CSV's (terminologies/ctcae/5.0/ctcae_v5.csv): Hypertension 10020772,
# Sepsis 10040047 (MedDRA v20.1 LLT codes).

HISTORY = (
    HistoryItem("Hypertension", "2015-06", True),  # a CTCAE v5.0 term: D.7.1.r coded
    HistoryItem("2型糖尿病", "2018", None),  # not one: D.7.2 text
    HistoryItem("阑尾切除术后", None, False),
)
CONMEDS = (
    ConMed("氨氯地平片", 5.0, "mg", "ORAL", "2015-06", None, "Hypertension"),
    ConMed("二甲双胍", None, None, None, "2018", "2024-03-05", "2型糖尿病"),
)
TESTS = (
    LabTest("体温", "2024-03-05T15:00", "39.2", "Cel", "36.0", "37.3"),
    LabTest("白细胞计数", "2024-03-06", "<4", "10^9/L", "4", "10"),
    LabTest("血培养", "2024-03-06", "阴性", None, None, None),
    LabTest("C反应蛋白", None, "85", "毫克/升", "0", "<10"),
    LabTest("降钙素原", "2024-03", None, "ng/mL", None, None),
)


def rich_case(**changes) -> Case:
    base = chinese_case()
    case = dataclasses.replace(
        base,
        reporter=dataclasses.replace(base.reporter, contact="+86 10 6915 5000"),
        hospital_admission="2024-03-05",
        hospital_discharge="2024-03-12",
        history=HISTORY,
        conmeds=CONMEDS,
        tests=TESTS,
        death=Death(date="2024-03-20", cause="Sepsis", autopsy="Y", autopsy_cause="脓毒性休克"),
        drugs=(dataclasses.replace(base.drugs[0], dechallenge="yes", rechallenge="no",
                                   indication="晚期实体瘤"),),  # fmt: skip
        reaction=dataclasses.replace(base.reaction, outcome="FATAL",
                                     criteria={**CRITERIA, "aeshosp": True, "aesdth": True}),
    )  # fmt: skip
    return dataclasses.replace(case, **changes)


def rich_follow_up() -> Case:
    return dataclasses.replace(
        follow_up(rich_case()),
        changes=(
            Change("death.autopsy", "U", "Y"),
            Change("tests", [], [{"name": "体温", "value": "39.2"}]),
            Change("reaction.outcome", "NOT RECOVERED/NOT RESOLVED", "FATAL"),
        ),
        note="尸检报告已收到",
    )


HOSPITAL_ZH = "住院：2024-03-05 入院，2024-03-12 出院。"
TREATMENT_ZH = "治疗措施：给予地塞米松 5 mg 静脉注射"
ROLE_PATH = ".//h:primaryRole"


def test_rich_case_read_back_by_e2br3(tmp_path):
    case = rich_case()
    batch = e2br3.parse(_write(case, tmp_path, "rich.xml"))
    icsr = batch.icsrs[0]
    assert icsr.safety_report_id == icsr.worldwide_case_id == case.case_id
    assert icsr.first_received_date.value == date(2024, 3, 6)
    assert icsr.most_recent_date.value == date(2024, 3, 7)
    assert icsr.narrative == f"{NARRATIVE_ZH}\n\n{TREATMENT_ZH}\n\n{HOSPITAL_ZH}"
    (reaction,) = icsr.reactions
    assert reaction.results_in_death is True and reaction.hospitalisation is True
    assert reaction.outcome.code == "5"  # E.i.7 fatal
    study, amlodipine, metformin = icsr.drugs
    assert [d.product_name for d in icsr.drugs] == ["X 注射液", "氨氯地平片", "二甲双胍"]
    assert [d.role.code for d in icsr.drugs] == ["1", "2", "2"]  # G.k.1
    assert [(x.text, x.route_text) for x in amlodipine.dosages] == [("5 mg ORAL", "ORAL")]
    (dose,) = metformin.dosages
    assert (dose.text, dose.route_text) == (None, None)  # nothing known but the dates
    assert amlodipine.relatedness == [] and metformin.relatedness == []
    assert amlodipine.action_taken is None
    (link,) = study.relatedness
    assert link.reaction_index == 0
    # e2br3 0.1 reads none of D.7, D.9, F.r, G.k.7.r, G.k.9.i.4, G.k.11, C.2.r.2.7, H.4:
    # they are read by XPath in the tests below.
    assert icsr.regional == {}


def test_reporter_telephone(tmp_path):
    doc = _doc(_write(rich_case(), tmp_path, "rich.xml"))
    ent = one(_ie(doc), "h:outboundRelationship[h:relatedInvestigation/h:code/@code='2']"
                        "//h:controlActEvent/h:author/h:assignedEntity")  # fmt: skip
    assert one(ent, "h:telecom/@value") == "tel:+86-10-6915-5000"  # C.2.r.2.7
    assert one(ent, "h:assignedPerson/h:asQualifiedEntity/h:code/@code") == "1"  # C.2.r.4


@pytest.mark.parametrize(
    ("contact", "sent"),
    [
        ("+86 10 6915 5000", "+86-10-6915-5000"),
        ("010-69155000", "010-69155000"),
        ("(021) 6438.5700", "021-6438.5700"),
        ("zhang.wei@pumch.cn", None),  # e-mail: no C.2.r element holds it
        ("call 6915", None),
        ("12345", None),  # too few digits for a telephone number
        (None, None),
        ("", None),
    ],
)
def test_telephone_only_when_it_looks_like_one(contact, sent):
    assert telephone(contact) == sent


def test_medical_history_coded_or_text(tmp_path):
    role = one(_doc(_write(rich_case(), tmp_path, "rich.xml")), ROLE_PATH)
    org = one(role, f"h:subjectOf2/h:organizer[h:code/@code='1'][h:code/@codeSystem='{ICH}.1.20']")
    coded = one(org, "h:component/h:observation[h:code/@codeSystem='2.16.840.1.113883.6.163']")
    code = one(coded, "h:code")
    assert (code.get("code"), code.get("codeSystemVersion")) == ("10020772", "20.1")  # D.7.1.r.1
    assert one(code, "h:originalText/text()") == "Hypertension"
    assert one(coded, "h:effectiveTime/h:low/@value") == "201506"  # D.7.1.r.2
    assert one(coded, f"h:outboundRelationship2/h:observation{obs('13')}/h:value/@value") == (
        "true")  # D.7.1.r.3  # fmt: skip
    text = one(org, f"h:component/h:observation{obs('18')}/h:value/text()")  # D.7.2
    assert text == "2型糖尿病（自 2018 起）; 阑尾切除术后（已结束）"


def test_medical_history_uncoded_when_the_report_is_not_meddra_20_1(tmp_path):
    case = rich_case()
    case = dataclasses.replace(
        case, reaction=dataclasses.replace(case.reaction, meddra_version="26.1")
    )
    role = one(_doc(build_e2b(case, created=CREATED)), ROLE_PATH)
    org = one(role, "h:subjectOf2/h:organizer[h:code/@code='1']")
    assert xp(org, "h:component/h:observation[h:code/@codeSystem='2.16.840.1.113883.6.163']") == []
    assert one(org, f"h:component/h:observation{obs('18')}/h:value/text()").startswith(
        "Hypertension（自 2015-06 起，持续中）; ")  # fmt: skip
    cause = one(role, f"h:subjectOf2/h:observation{obs('32')}/h:value")
    assert cause.get("code") is None and one(cause, "h:originalText/text()") == "Sepsis"


def test_death_and_autopsy(tmp_path):
    role = one(_doc(_write(rich_case(), tmp_path, "rich.xml")), ROLE_PATH)
    assert one(role, "h:player1/h:deceasedTime/@value") == "20240320"  # D.9.1
    cause = one(role, f"h:subjectOf2/h:observation{obs('32')}/h:value")  # D.9.2.r
    assert (cause.get("code"), cause.get("codeSystemVersion")) == ("10040047", "20.1")
    assert one(cause, "h:originalText/text()") == "Sepsis"
    autopsy = one(role, f"h:subjectOf2/h:observation{obs('5')}")
    assert one(autopsy, "h:value/@value") == "true"  # D.9.3
    found = one(autopsy, f"h:outboundRelationship2[@typeCode='DRIV']/h:observation{obs('8')}"
                         "/h:value")  # D.9.4.r  # fmt: skip
    assert found.get("code") is None  # not a CTCAE term: the words only
    assert one(found, "h:originalText/text()") == "脓毒性休克"


def test_tests_results_units_and_ranges(tmp_path):
    role = one(_doc(_write(rich_case(), tmp_path, "rich.xml")), ROLE_PATH)
    org = one(role, "h:subjectOf2/h:organizer[h:code/@code='3']")
    temp, wbc, culture, crp, pct = xp(org, "h:component/h:observation")
    assert one(temp, "h:code/h:originalText/text()") == "体温"  # F.r.2.1
    assert one(temp, "h:effectiveTime/@value") == "202403051500"  # F.r.1
    center = one(temp, "h:value[@*[local-name()='type']='IVL_PQ']/h:center")
    assert (center.get("value"), center.get("unit")) == ("39.2", "Cel")  # F.r.3.2, F.r.3.3
    ranges = [
        (one(r, "h:value/@value"), one(r, "h:value/@unit"), one(r, "h:interpretationCode/@code"))
        for r in xp(temp, "h:referenceRange/h:observationRange")
    ]
    assert ranges == [("36", "Cel", "L"), ("37.3", "Cel", "H")]  # F.r.4, F.r.5
    high = one(wbc, "h:value/h:high")  # "<4": below 4, not including it
    assert (high.get("value"), high.get("unit"), high.get("inclusive")) == ("4", "10*9/L", "false")
    assert xp(wbc, "h:value/h:center") == []
    assert one(culture, "h:value/text()") == "阴性"  # F.r.3.4: text
    assert xp(culture, "h:referenceRange") == []
    # a unit UCUM cannot hold: the result as written (F.r.3.4), the range as comments (F.r.6)
    assert one(crp, "h:effectiveTime/@nullFlavor") == "UNK"  # F.r.1 unknown
    assert one(crp, "h:value/text()") == "85 毫克/升"
    assert xp(crp, "h:referenceRange") == []
    assert one(crp, f"h:outboundRelationship2/h:observation{obs('10')}/h:value/text()") == "0 - <10"
    assert one(pct, "h:effectiveTime/@value") == "202403"
    assert one(pct, "h:value/@nullFlavor") == "UNK"  # no result given


def test_drug_indication_rechallenge_dechallenge(tmp_path):
    role = one(_doc(_write(rich_case(), tmp_path, "rich.xml")), ROLE_PATH)
    reaction_id = one(role, f"h:subjectOf2/h:observation{obs('29')}/h:id/@root")
    study, amlodipine, metformin = xp(role, ".//h:organizer[h:code/@code='4']/h:component/"
                                            "h:substanceAdministration")  # fmt: skip
    ind = one(study, f"h:inboundRelationship[@typeCode='RSON']/h:observation{obs('19')}")
    assert one(ind, "h:value/h:originalText/text()") == "晚期实体瘤"  # G.k.7.r.1
    assert one(ind, "h:value").get("code") is None
    assert one(ind, "h:performer/h:assignedEntity/h:code/@code") == "3"
    recur = one(study, f"h:outboundRelationship2[@typeCode='PERT']/h:observation{obs('31')}")
    assert one(recur, "h:value/@code") == "2"  # G.k.9.i.4: no -> 2 (did not recur)
    assert one(recur, "h:value/@codeSystem") == f"{ICH}.1.16"
    assert one(recur, "h:outboundRelationship1/h:actReference/h:id/@root") == reaction_id
    additional = f"h:outboundRelationship2[@typeCode='REFR']/h:observation{obs('2')}/h:value"
    assert one(study, f"{additional}/text()") == "去激发（停药后反应是否消失或减轻）：是"  # G.k.11
    # conmeds: the structured dose when a number with a UCUM unit, the indication coded
    dose = one(amlodipine, "h:outboundRelationship2[@typeCode='COMP']/h:substanceAdministration")
    assert (one(dose, "h:doseQuantity/@value"), one(dose, "h:doseQuantity/@unit")) == ("5", "mg")
    assert one(dose, "h:effectiveTime/h:comp[@operator='A']/h:low/@value") == "201506"
    assert xp(dose, "h:effectiveTime/h:comp/h:high") == []  # still taken
    value = one(amlodipine, f"h:inboundRelationship/h:observation{obs('19')}/h:value")
    assert (value.get("code"), one(value, "h:originalText/text()")) == ("10020772", "Hypertension")
    dose = one(metformin, "h:outboundRelationship2[@typeCode='COMP']/h:substanceAdministration")
    assert xp(dose, "h:doseQuantity") == [] and xp(dose, "h:text") == []
    assert one(dose, "h:effectiveTime/h:comp/h:high/@value") == "20240305"
    assert xp(metformin, f"h:outboundRelationship2/h:observation{obs('31')}") == []


@pytest.mark.parametrize(("answer", "code"), [("yes", "1"), ("no", "2"), ("unknown", None),
                                               ("na", "4"), (None, None)])  # fmt: skip
def test_rechallenge_codes(answer, code):
    case = rich_case()
    case = dataclasses.replace(
        case, drugs=(dataclasses.replace(case.drugs[0], rechallenge=answer),)
    )
    found = xp(_doc(build_e2b(case)), f"//h:observation{obs('31')}/h:value/@code")
    assert found == ([code] if code else [])  # not sent when nobody said (the IG)


def test_follow_up_says_what_changed(tmp_path):
    initial, later = rich_case(), rich_follow_up()
    first = _doc(_write(initial, tmp_path, "v1.xml"))
    second = _doc(_write(later, tmp_path, "v2.xml"))
    h4 = f"h:component/h:adverseEventAssessment/h:component1/h:observationEvent{obs('10')}"
    assert xp(_ie(first), h4) == []  # an initial report has no sender's comments
    comment = one(_ie(second), h4)
    assert one(comment, "h:author/h:assignedEntity/h:code/@code") == "1"  # the sender
    assert one(comment, "h:value/text()") == (
        "Follow-up report 1 (report version 2). Note: 尸检报告已收到. "
        'Changed since version 1: death.autopsy: U -> Y; tests: (none) -> [{"name": "体温", '
        '"value": "39.2"}]; reaction.outcome: NOT RECOVERED/NOT RESOLVED -> FATAL.'
    )
    assert one(_ie(second), "h:availabilityTime/@value") == "20240320"  # C.1.5
    ids = [[one(_ie(d), f"h:id[@root='{ICH}.3.{n}']/@extension") for n in (1, 2)]
           for d in (first, second)]  # fmt: skip
    assert ids[0] == ids[1] == [initial.case_id, initial.case_id]  # C.1.1, C.1.8.1


# The elements the IG requires when another is given (conditional), for the rich case.
CONDITIONAL = {
    "D.7.2 (D.7.1 coded or not)": f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='1']"
    f"/h:component/h:observation{obs('18')}/h:value",
    "D.9.3 (required if D.9.1)": f"{ROLE}/h:subjectOf2/h:observation{obs('5')}/h:value",
    "F.r.1 (required if F.r.2)": f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='3']"
    "/h:component/h:observation/h:effectiveTime",
    "F.r.3 (a result for each F block)": f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='3']"
    "/h:component/h:observation/h:value",
    "C.5.4 (C.1.3 = 2)": MANDATORY["C.5.4"],
}


@pytest.mark.parametrize("make", [rich_case, rich_follow_up], ids=["initial", "follow-up"])
def test_rich_case_mandatory_and_conditional_elements(tmp_path, make):
    doc = _doc(_write(make(), tmp_path, "rich.xml"))
    missing = [eid for eid, path in {**MANDATORY, **CONDITIONAL}.items() if not xp(doc, path)]
    assert missing == []
    tests = xp(doc, f"{ROLE}/h:subjectOf2/h:organizer[h:code/@code='3']/h:component/h:observation")
    assert len(tests) == len(TESTS)
    for node in tests:  # every F block has a date (or UNK) and a result (or UNK)
        assert xp(node, "h:effectiveTime") and xp(node, "h:value")


def test_null_flavors_of_the_sae_case(tmp_path):
    case = rich_case(
        history=(),
        death=Death(date=None, cause=None, autopsy="U", autopsy_cause=None),
        reporter=Reporter(name=None, qualification=None, organisation=None, country=None,
                          contact="ward 5"),
    )  # fmt: skip
    doc = _doc(_write(case, tmp_path, "nulls.xml"))
    role = one(doc, ROLE_PATH)
    history = one(role, f"h:subjectOf2/h:organizer[h:code/@code='1']/h:component"
                        f"/h:observation{obs('18')}/h:value")  # fmt: skip
    assert history.get("nullFlavor") == "UNK"  # D.7.2: not documented (not "None")
    assert one(role, "h:player1/h:deceasedTime/@nullFlavor") == "ASKU"  # D.9.1: no UNK in the IG
    assert one(role, f"h:subjectOf2/h:observation{obs('5')}/h:value/@nullFlavor") == "ASKU"
    assert xp(role, f"h:subjectOf2/h:observation{obs('32')}") == []  # no cause given
    assert xp(doc, "//h:telecom") == []  # "ward 5" is not a telephone number
    no_autopsy_answer = rich_case(death=Death(date="2024-03", cause=None, autopsy=None,
                                              autopsy_cause="ignored"))  # fmt: skip
    role = one(_doc(build_e2b(no_autopsy_answer)), ROLE_PATH)
    assert one(role, "h:player1/h:deceasedTime/@value") == "202403"
    autopsy = one(role, f"h:subjectOf2/h:observation{obs('5')}")
    assert one(autopsy, "h:value/@nullFlavor") == "UNK"
    assert xp(autopsy, "h:outboundRelationship2") == []  # no autopsy: no autopsy cause


def test_no_death_section_when_the_patient_did_not_die(tmp_path):
    role = one(_doc(_write(chinese_case(), tmp_path, "zh.xml")), ROLE_PATH)
    assert xp(role, "h:player1/h:deceasedTime") == []
    assert xp(role, f"h:subjectOf2/h:observation{obs('5')}") == []
    assert xp(role, "h:subjectOf2/h:organizer[h:code/@code='3']") == []  # no tests: no F


def test_blinded_rich_case_masks_the_study_drug_only(tmp_path):
    doc = _doc(_write(rich_case(blinded=True), tmp_path, "blind.xml"))
    icsr = e2br3.parse(etree.tostring(doc)).icsrs[0]
    assert [d.product_name for d in icsr.drugs] == ["BLINDED", "氨氯地平片", "二甲双胍"]
    drugs = xp(doc, ".//h:organizer[h:code/@code='4']/h:component/h:substanceAdministration")
    blinded = [xp(d, f"h:outboundRelationship2/h:observation{obs('6')}/h:value/@value")
               for d in drugs]  # fmt: skip
    assert blinded == [["true"], [], []]  # G.k.2.5 on the investigational product only
    assert b"X \xe6\xb3\xa8\xe5\xb0\x84\xe6\xb6\xb2" not in etree.tostring(doc)  # "X 注射液"


def test_same_case_same_bytes():
    case = rich_follow_up()
    assert build_e2b(case) == build_e2b(case)
    assert build_e2b(case, created=CREATED) == build_e2b(case, created=CREATED)
    stamp = one(_doc(build_e2b(case)), "h:creationTime/@value")
    assert stamp == "20240321000000+0000"  # by default the case's creation date, 00:00 UTC
    other = dataclasses.replace(case, created=date(2024, 3, 22))
    assert build_e2b(other) != build_e2b(case)


def test_sender_comments_text():
    assert sender_comments(rich_case()) is None
    noted = rich_case(note="Corrected the onset time")
    assert sender_comments(noted) == "Note: Corrected the onset time."
