# ruff: noqa: E501  (the ACK fixtures are written out as a receiver sends them)
"""pv.icsr.ack: E2B(R3) acknowledgements (MCCI_IN200101UV01) read and written.

The fixtures below are written out by hand after the ICH E2B(R3) implementation guide's
ACK section (element ids in the comments) and the shape of the ACKs regulators send
(FDA's FAERS examples: batch code AE with a CR message and its error text); none is
produced by build_ack. The expected outcomes follow the mapping in pv.icsr.ack's
docstring: CR or AR -> rejected; CA with ACK.B.r.7 text, or AE -> accepted with errors;
CA (or AA alone) -> accepted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pv.icsr.ack import MAX_ACK_BYTES, Ack, AckError, build_ack, parse_ack
from pv.icsr.case import Case, Dose, Patient, Reaction, Reporter, Study, SuspectDrug
from pv.icsr.e2b import build_e2b
from pv.icsr.models import AckOutcome


def _ack(batch_code: str, message_block: str, batch_detail: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<MCCI_IN200101UV01 xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ITSVersion="XML_1.0">
  <id extension="NMPA-ACK-0001" root="2.16.840.1.113883.3.989.2.1.3.20"/><!-- ACK.M.1 -->
  <creationTime value="20240309101530+0800"/><!-- ACK.M.4 -->
  <responseModeCode code="D"/>
  <interactionId extension="MCCI_IN200101UV01" root="2.16.840.1.113883.1.6"/>
  {message_block}
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE">
    <id extension="PVTRACKER" root="2.16.840.1.113883.3.989.2.1.3.18"/></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE">
    <id extension="NMPA" root="2.16.840.1.113883.3.989.2.1.3.17"/></device></sender>
  <attentionLine>
    <keyWordText code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.24" displayName="dateOfIcsrBatchTransmission"/>
    <value xsi:type="TS" value="20240308093015+0000"/><!-- ACK.A.3 -->
  </attentionLine>
  <acknowledgement typeCode="{batch_code}"><!-- ACK.A.4 -->
    <targetBatch><id extension="CN-PVTRACKER-ONC-101-7-V1-20240308093015" root="2.16.840.1.113883.3.989.2.1.3.22"/></targetBatch><!-- ACK.A.1 -->
    {batch_detail}
  </acknowledgement>
</MCCI_IN200101UV01>
""".encode()


def _message(code: str, detail: str = "", report_id: str = "CN-PVTRACKER-ONC-101-7") -> str:
    return f"""<MCCI_IN000002UV01>
    <id extension="LRN-778812" root="2.16.840.1.113883.3.989.2.1.3.19"/><!-- ACK.B.r.2 -->
    <creationTime value="20240309101530+0800"/>
    <interactionId extension="MCCI_IN000002UV01" root="2.16.840.1.113883.1.6"/>
    <processingCode code="P"/><processingModeCode code="T"/><acceptAckCode code="NE"/>
    <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE">
      <id extension="PVTRACKER" root="2.16.840.1.113883.3.989.2.1.3.16"/></device></receiver><!-- ACK.B.r.3 -->
    <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE">
      <id extension="NMPA" root="2.16.840.1.113883.3.989.2.1.3.15"/></device></sender><!-- ACK.B.r.4 -->
    <attentionLine>
      <keyWordText code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.24" displayName="dateOfIcsrMessageCreation"/>
      <value xsi:type="TS" value="20240308093015+0000"/><!-- ACK.B.r.5 -->
    </attentionLine>
    <acknowledgement typeCode="{code}"><!-- ACK.B.r.6 -->
      <targetMessage><id extension="{report_id}" root="2.16.840.1.113883.3.989.2.1.3.1"/></targetMessage><!-- ACK.B.r.1 -->
      {detail}
    </acknowledgement>
  </MCCI_IN000002UV01>"""


ACCEPTED = _ack("AA", _message("CA"))
ACCEPTED_WITH_WARNING = _ack(
    "AA",
    _message("CA", "<acknowledgementDetail><text>Warning: D.2.2 age is missing; "
                   "report loaded</text></acknowledgementDetail>"),  # ACK.B.r.7
)  # fmt: skip
ACCEPTED_BATCH_AE = _ack(
    "AE",
    _message("CA"),
    "<acknowledgementDetail><text>some ICSR message(s) need further action</text>"
    "</acknowledgementDetail>",  # ACK.A.5
)
REJECTED = _ack(
    "AE",
    _message("CR", "<acknowledgementDetail><text>Safety report not loaded: E.i.2.1b "
                   "10008531 is not a MedDRA 20.1 LLT code</text></acknowledgementDetail>"),
    "<acknowledgementDetail><text>some ICSR message(s) need further action</text>"
    "</acknowledgementDetail>",
)  # fmt: skip
BATCH_REJECTED = _ack(  # AR: the batch could not be parsed; no message-level part
    "AR", "",
    "<acknowledgementDetail><text>XML schema validation failed at line 12</text>"
    "</acknowledgementDetail>",
)  # fmt: skip
BATCH_ONLY_AA = _ack("AA", "")
TWO_MESSAGES_ONE_REJECTED = _ack(
    "AE", _message("CA", report_id="CN-A-1") + _message("CR", report_id="CN-A-2")
)


def test_accepted():
    ack = parse_ack(ACCEPTED)
    assert ack == Ack(
        code="CA",
        outcome=AckOutcome.accepted,
        message=None,
        report_ids=("CN-PVTRACKER-ONC-101-7",),
        batch_id="CN-PVTRACKER-ONC-101-7-V1-20240308093015",
        # ACK.M.4 20240309101530+0800 = 2024-03-09 02:15:30 UTC
        received=datetime(2024, 3, 9, 2, 15, 30, tzinfo=UTC),
        batch_code="AA",
        report_codes=("CA",),
    )


def test_accepted_with_a_warning_text():
    ack = parse_ack(ACCEPTED_WITH_WARNING)
    assert (ack.code, ack.outcome) == ("CA", AckOutcome.accepted_with_errors)
    assert ack.message == "Warning: D.2.2 age is missing; report loaded"


def test_batch_error_code_with_an_accepted_report():
    ack = parse_ack(ACCEPTED_BATCH_AE)
    assert (ack.code, ack.outcome) == ("CA", AckOutcome.accepted_with_errors)
    assert ack.message == "some ICSR message(s) need further action"


def test_rejected_report():
    ack = parse_ack(REJECTED)
    assert (ack.code, ack.outcome) == ("CR", AckOutcome.rejected)
    assert ack.message == (
        "Safety report not loaded: E.i.2.1b 10008531 is not a MedDRA 20.1 LLT code"
        " | some ICSR message(s) need further action"
    )
    assert ack.report_ids == ("CN-PVTRACKER-ONC-101-7",)


def test_batch_level_codes_alone():
    ack = parse_ack(BATCH_REJECTED)
    assert (ack.code, ack.outcome, ack.report_ids) == ("AR", AckOutcome.rejected, ())
    assert ack.message == "XML schema validation failed at line 12"
    ack = parse_ack(BATCH_ONLY_AA)
    assert (ack.code, ack.outcome, ack.message) == ("AA", AckOutcome.accepted, None)


def test_one_rejected_report_rejects_the_acknowledgement():
    ack = parse_ack(TWO_MESSAGES_ONE_REJECTED)
    assert (ack.code, ack.outcome) == ("CR", AckOutcome.rejected)
    assert ack.report_ids == ("CN-A-1", "CN-A-2")
    assert ack.report_codes == ("CA", "CR")


# ---------------------------------------------------------------------------- refused

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<MCCI_IN200101UV01 xmlns="urn:hl7-org:v3"><acknowledgement typeCode="AA">&lol3;</acknowledgement>
</MCCI_IN200101UV01>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<MCCI_IN200101UV01 xmlns="urn:hl7-org:v3"><acknowledgement typeCode="AA">
<acknowledgementDetail><text>&xxe;</text></acknowledgementDetail></acknowledgement>
</MCCI_IN200101UV01>"""
# The same DOCTYPE hidden from a byte search by UTF-16: refused after parsing.
UTF16_DOCTYPE = (
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "b">]>'
    '<MCCI_IN200101UV01 xmlns="urn:hl7-org:v3"><acknowledgement typeCode="AA"/>'
    "</MCCI_IN200101UV01>"
).encode("utf-16")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (BILLION_LAUGHS, "declares a document type"),
        (EXTERNAL_ENTITY, "declares a document type"),
        (UTF16_DOCTYPE, "declares a document type"),
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"<MCCI_IN200101UV01 xmlns='urn:hl7-org:v3'>", "not well-formed XML"),
        (b"%PDF-1.7 not xml", "not well-formed XML"),
        (b"<html><body>ACK</body></html>", "This file is a html, not an E2B(R3) acknowledgement"),
        (b"<MCCI_IN200101UV01><acknowledgement typeCode='AA'/></MCCI_IN200101UV01>",
         "not in the HL7 v3 namespace"),
        (b"<MCCI_IN200101UV01 xmlns='urn:hl7-org:v3'/>",
         "has no acknowledgement (ACK.A.4)"),
        (b"<MCCI_IN200101UV01 xmlns='urn:hl7-org:v3'><acknowledgement/></MCCI_IN200101UV01>",
         "has no acknowledgement/@typeCode (ACK.A.4)"),
        (_ack("OK", ""), "The code OK of ACK.A.4 is not one of AA, AE, AR."),
        (_ack("AA", _message("XX")), "The code XX of ACK.B.r.6 is not one of CA, CR."),
        (_ack("AA", _message("CA", report_id="")),
         "MCCI_IN000002UV01[1]/acknowledgement/targetMessage/id/@extension (ACK.B.r.1)"),
        (_ack("AA", "<MCCI_IN000002UV01><acknowledgement/></MCCI_IN000002UV01>"),
         "MCCI_IN000002UV01[1]/acknowledgement/@typeCode (ACK.B.r.6)"),
    ],
    ids=["billion-laughs", "external-entity", "utf16-doctype", "empty", "blank",
         "truncated", "pdf", "html", "no-namespace", "no-ack", "no-code", "bad-batch-code",
         "bad-report-code", "no-report-id", "no-report-code"],
)  # fmt: skip
def test_refused_with_a_reason(data, says):
    with pytest.raises(AckError) as caught:
        parse_ack(data)
    assert says in str(caught.value)


def test_an_icsr_batch_is_not_its_acknowledgement():
    with pytest.raises(AckError, match=r"is an ICSR batch \(MCCI_IN200100UV01\)"):
        parse_ack(build_e2b(_case()))


def test_huge_file_refused_before_parsing():
    padding = b"<!-- " + b"x" * MAX_ACK_BYTES + b" -->"
    with pytest.raises(AckError, match=r"at most 1000 KB"):
        parse_ack(ACCEPTED.replace(b"<responseModeCode", padding + b"<responseModeCode"))


def test_texts_are_bounded_and_one_line():
    long = "错误" * 400 + "\n\tend"
    ack = parse_ack(_ack("AA", _message(
        "CA", f"<acknowledgementDetail><text>{long}</text></acknowledgementDetail>",
        report_id="R" * 300)))  # fmt: skip
    assert len(ack.report_ids[0]) == 100 and ack.report_ids[0].endswith("…")
    assert len(ack.message) == 250 and ack.message.endswith("…")
    assert "\n" not in ack.message and "\t" not in ack.message


# ---------------------------------------------------------------------------- build_ack


def _case() -> Case:
    return Case(
        case_id="CN-PVTRACKER-ONC-101-7", report_id="CN-PVTRACKER-ONC-101-7", version=1,
        initial=True, report_kind="initial_15", first_received=date(2024, 3, 6),
        most_recent=date(2024, 3, 7), created=date(2024, 3, 8),
        study=Study(id="ONC-101", registration="NCT04660565", registration_country="US",
                    title="Study", sponsor="Acme"),
        sender="Acme",
        reporter=Reporter(name="张伟", qualification="1", organisation="协和", country="CN"),
        patient=Patient(id="ONC-101-001-0007", subjid="0007", age=54, sex="F",
                        weight_kg=None, arm=None),
        reaction=Reaction(term="发热", lang="zh", term_en="Fever", llt_code="10016558",
                          llt_name="Fever", soc="General", meddra_version="20.1", grade=3,
                          start="2024-03-05", end=None, ongoing=True, outcome=None,
                          criteria={"aeshosp": True}),
        drugs=(SuspectDrug(key="X", name="X", role="suspect",
                           doses=(Dose(200.0, "mg", "INTRAVENOUS", "ONCE", "2024-03-05", None),),
                           first_dose="2024-03-05", last_dose="2024-03-05", action=None,
                           investigator_causality="RELATED", sponsor_causality=None,
                           expectedness="unexpected"),),
        treatment=None, narrative="发热。", narrative_lang="zh", susar=True,
        fatal_or_life_threatening=False,
    )  # fmt: skip


AT = datetime(2024, 3, 9, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("outcome", "code", "message"),
    [
        (AckOutcome.accepted, "CA", None),
        (AckOutcome.accepted_with_errors, "CA",
         "D.2.2 missing | Some ICSR messages need further action"),
        (AckOutcome.rejected, "CR",
         "E.i.2.1b invalid | Some ICSR messages need further action"),
    ],
)  # fmt: skip
def test_build_ack_round_trip(outcome, code, message):
    report = build_e2b(_case(), created=datetime(2024, 3, 8, 9, 30, 15, tzinfo=UTC))
    text = {AckOutcome.accepted: None, AckOutcome.accepted_with_errors: "D.2.2 missing",
            AckOutcome.rejected: "E.i.2.1b invalid"}[outcome]  # fmt: skip
    data = build_ack(report, outcome, text, at=AT)
    ack = parse_ack(data)
    assert (ack.code, ack.outcome, ack.message) == (code, outcome, message)
    assert ack.report_ids == ("CN-PVTRACKER-ONC-101-7",)  # C.1.1 = N.2.r.1
    assert ack.batch_id == "CN-PVTRACKER-ONC-101-7-V1-20240308093015"  # N.1.2
    assert ack.received == AT
    assert data == build_ack(report, outcome, text, at=AT)  # deterministic


def test_build_ack_refuses_what_is_not_our_batch():
    with pytest.raises(AckError):
        build_ack(ACCEPTED, AckOutcome.accepted)
    with pytest.raises(AckError):
        build_ack(b"<not-closed", AckOutcome.accepted)
