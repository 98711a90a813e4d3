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

from pv.icsr.case import Case, Dose, Patient, Reaction, Reporter, Study, SuspectDrug
from pv.icsr.e2b import build_e2b, hl7_ts, write_e2b

H = {"h": "urn:hl7-org:v3"}
ICH = "2.16.840.1.113883.3.989.2.1"
CREATED = datetime(2024, 3, 8, 9, 30, 15, tzinfo=UTC)
CRITERIA = dict.fromkeys(("aesdth", "aeslife", "aeshosp", "aesdisab", "aescong", "aesmie"), False)
NARRATIVE_ZH = "受试者于2024年3月5日输注研究药物后约1小时出现寒战、发热，体温39.2℃，收入院观察。"


def chinese_case() -> Case:
    return Case(
        case_id="CN-PVTRACKER-ONC-101-7",
        report_id="CN-PVTRACKER-ONC-101-7-V1",
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
        report_id="XX-PVTRACKER-CARD-2-31-V1",
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
        report_id=case.case_id + "-V2", most_recent=date(2024, 3, 20), created=date(2024, 3, 21),
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
    assert icsr.safety_report_id == "CN-PVTRACKER-ONC-101-7-V1"
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
    docs = [_doc(_write(c, tmp_path, f"{c.report_id}.xml")) for c in (initial, later)]
    for doc in docs:
        missing = [eid for eid, path in MANDATORY.items() if not xp(doc, path)]
        assert missing == []
        for eid in ("N.1.5", "N.2.r.4", "C.1.2"):  # to the second
            stamp = xp(doc, MANDATORY[eid])[0].get("value")
            assert len(stamp[:14]) == 14 and stamp[:14].isdigit()
    # a follow-up: the same worldwide case id, its own report id, later information
    first, second = (e2br3.parse(etree.tostring(d)).icsrs[0] for d in docs)
    assert first.worldwide_case_id == second.worldwide_case_id == initial.case_id
    assert (first.safety_report_id, second.safety_report_id) == (
        initial.report_id, later.report_id)  # fmt: skip
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
