"""An expedited report as an ICH E2B(R3) individual case safety report: HL7 v3 XML.

`build_e2b(case)` writes one `MCCI_IN200100UV01` batch holding one `PORR_IN049016UV`
message holding the ICSR of one `pv.icsr.case.Case`, following the ICH E2B(R3)
implementation guide (v5.02 element paths; identifiers and code systems under the ICH
OID arc 2.16.840.1.113883.3.989.2.1: `.3.x` identifier roots, `.1.x` ICH code lists).
`write_e2b(case, path)` writes the same bytes to a file.

What a report says (ICH element ids):
- N.1 batch header (type ichicsr, batch number, sender, receiver, date of transmission)
  and N.2.r message header (message id = C.1.1, sender, receiver, date of creation).
- C.1: C.1.1 sender's safety report id (the case id and its version: `report_id`), C.1.2
  date of creation, C.1.3 = 2 (report from study), C.1.4 first received (day 0), C.1.5
  most recent information, C.1.6.1 = false (no documents attached), C.1.7 = true for a
  SUSAR, C.1.8.1 worldwide unique case id (`case_id`, the same in every version), C.1.8.2
  = 2 (first sender: other than a regulator), C.1.9.1 = NI (no other case ids). An
  initial report and its follow-ups share C.1.8.1; a follow-up has its own C.1.1 and a
  later C.1.5. C.1.11 (nullification / amendment) is not written: no report is nullified.
- C.2.r the primary source (the site's investigator): name (UNK when unknown), the site,
  its country, qualification (UNK when unknown), C.2.r.5 = 1 (for regulatory purposes).
- C.3 sender: C.3.1 = 1 (pharmaceutical company), C.3.2 the sponsor.
- C.5 study: registration number and country, name, sponsor study number, study type.
- D patient: D.1 the subject id (initials are not collected; MSK when there is none),
  D.1.1.4 the USUBJID as investigation number, D.2.2 age in years, D.3 weight in kg, D.5
  sex (ISO 5218, UNK when unknown).
- E.i the reaction: E.i.1.1a/b as reported with its language (ISO 639-2 alpha-3,
  bibliographic: "chi" Chinese, "eng" English), E.i.1.2 in English, E.i.2.1a/b MedDRA
  version and LLT code, E.i.3.2a-f seriousness (true, else nullFlavor NI as the IG asks),
  E.i.4/E.i.5 start and end at the precision collected (YYYY, YYYYMM, YYYYMMDD, with the
  time when collected; an unknown date is left out), E.i.7 outcome, E.i.9 country.
- F tests: none (optional in the IG; not collected yet).
- G.k one per drug: G.k.1 suspect / concomitant, G.k.2.2 name as reported ("BLINDED" for
  a study drug of a blinded report, with G.k.2.5 = true), G.k.4.r one per dose given up
  to the onset (dose, route as text, start and end), G.k.8 action taken, G.k.9.i.2.r the
  investigator's (global introspection) and the sponsor's (WHO-UMC) causality, each tied
  to the reaction by its internal id.
- H.1 narrative (as written, with the treatment given), H.5.r the same text with its
  language when it is not English.

Decisions:
- H.1 is kept as written, in Chinese when the site wrote Chinese: there is no English
  narrative to give. Some regions require H.1 in English; the Chinese text is also given
  in H.5.r (language "chi") as the IG provides for case summaries in a native language.
- The labels inside the narrative ("Treatment given:") follow the narrative's language,
  not the interface language: the XML is a regulatory record, not a page.
- AEACN "DRUG INTERRUPTED" has no E2B code; it is sent as 1 (drug withdrawn): the drug
  was stopped (a dechallenge).
- Internal ids of the reaction and of each drug are name-based UUIDs (uuid5) of the case
  id, so the same case gives the same XML.
- Timestamps (N.1.5, N.2.r.4, C.1.2) are to the second with the UTC offset when `created`
  carries one; by default the moment of writing, in UTC.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from pv.icsr.case import Case, Dose, SuspectDrug

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: HL7, "xsi": XSI}

ICH = "2.16.840.1.113883.3.989.2.1"
OID_BATCH_NUMBER = f"{ICH}.3.22"  # N.1.2
OID_BATCH_SENDER = f"{ICH}.3.13"  # N.1.3
OID_BATCH_RECEIVER = f"{ICH}.3.14"  # N.1.4
OID_REPORT_ID = f"{ICH}.3.1"  # N.2.r.1, C.1.1
OID_MESSAGE_SENDER = f"{ICH}.3.11"  # N.2.r.2
OID_MESSAGE_RECEIVER = f"{ICH}.3.12"  # N.2.r.3
OID_CASE_ID = f"{ICH}.3.2"  # C.1.8.1
OID_SPONSOR_STUDY = f"{ICH}.3.5"  # C.5.3
OID_STUDY_REGISTRATION = f"{ICH}.3.6"  # C.5.1.r.1
OID_INVESTIGATION_NUMBER = f"{ICH}.3.10"  # D.1.1.4


def code_list(n: int) -> str:
    """The OID of ICH code list `n` (1 batch type, 2 report type, 19 observations ...)."""
    return f"{ICH}.1.{n}"


CL_OBSERVATION = code_list(19)
OID_MEDDRA = "2.16.840.1.113883.6.163"
OID_COUNTRY = "1.0.3166.1.2.2"  # ISO 3166-1 alpha-2
OID_SEX = "1.0.5218"  # ISO 5218

# ISO 639-1 (Case) -> ISO 639-2 alpha-3, bibliographic codes (E.i.1.1b, H.5.r.1b).
LANGUAGES = {"zh": "chi", "en": "eng", "ja": "jpn", "ko": "kor", "fr": "fre", "de": "ger"}

# E.i.3.2a-f: the Case's SDTM criteria -> ICH observation code (code list 19).
SERIOUSNESS = (
    ("aesdth", "34", "resultsInDeath"),
    ("aeslife", "21", "isLifeThreatening"),
    ("aeshosp", "33", "requiresInpatientHospitalization"),
    ("aesdisab", "35", "resultsInPersistentOrSignificantDisability"),
    ("aescong", "12", "congenitalAnomalyBirthDefect"),
    ("aesmie", "26", "otherMedicallyImportantCondition"),
)
# E.i.7 (code list 11) from SDTM AEOUT.
OUTCOMES = {
    "RECOVERED/RESOLVED": "1",
    "RECOVERING/RESOLVING": "2",
    "NOT RECOVERED/NOT RESOLVED": "3",
    "RECOVERED/RESOLVED WITH SEQUELAE": "4",
    "FATAL": "5",
    "UNKNOWN": "0",
}
# G.k.8 (code list 15) from SDTM AEACN.
ACTIONS = {
    "DRUG WITHDRAWN": "1",
    "DRUG INTERRUPTED": "1",
    "DOSE REDUCED": "2",
    "DOSE INCREASED": "3",
    "DOSE NOT CHANGED": "4",
    "UNKNOWN": "0",
    "NOT APPLICABLE": "9",
}
ROLES = {"suspect": "1", "concomitant": "2"}  # G.k.1 (code list 13)
SEXES = {"M": "1", "F": "2"}  # D.5 (ISO 5218)
ORG = {"classCode": "ORG", "determinerCode": "INSTANCE"}
PLACE = {"classCode": "COUNTRY", "determinerCode": "INSTANCE"}
BLINDED_NAME = "BLINDED"
INVESTIGATOR = ("Investigator", "Global introspection")  # G.k.9.i.2.r.1, .2
SPONSOR = ("Sponsor", "WHO-UMC")
TREATMENT_LABEL = {"zh": "治疗措施：", "en": "Treatment given: "}

_ISO_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?"
    r"(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?)?)?"
)


def hl7_ts(value: str | date | None) -> str | None:
    """An ISO 8601 date or date-time, partial allowed, as an HL7 TS at the same precision:
    "2024" -> "2024", "2024-03" -> "202403", "2024-03-05T10:30" -> "202403051030".
    Parts given as unknown ("2024-UN-UN") end the precision there; no year -> None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _stamp(value)
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    m = _ISO_DATE.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, zone = m.groups()
    out = year + (month or "") + (day or "") + (hour or "") + (minute or "") + (second or "")
    if hour and zone:
        out += "+0000" if zone == "Z" else zone.replace(":", "")
    return out


def _stamp(moment: datetime) -> str:
    text = moment.strftime("%Y%m%d%H%M%S")
    offset = moment.strftime("%z")
    return text + offset


def language_code(lang: str | None) -> str | None:
    if not lang:
        return None
    lang = lang.strip().lower()
    if len(lang) == 3 and lang.isalpha():
        return lang
    return LANGUAGES.get(lang.split("-")[0])


def _number(value: float | int) -> str:
    try:
        d = Decimal(str(value)).normalize()
    except InvalidOperation:
        return str(value)
    return format(d, "f")


def ucum(unit: str | None) -> str | None:
    """A dose unit as a UCUM code where the usual spellings differ (mcg, /day, IU)."""
    if not unit:
        return None
    u = unit.strip()
    for a, b in (("µg", "ug"), ("mcg", "ug"), ("/day", "/d"), ("IU", "[iU]"), ("ml", "mL")):
        u = u.replace(a, b)
    return u if u and not re.search(r"\s", u) else None


# --------------------------------------------------------------------------- XML helpers


Attributes = Mapping[str, str | None]  # an attribute left None is not written


def _el(parent: etree._Element, tag: str, attrib: Attributes | None = None, text=None):
    node = etree.SubElement(parent, f"{{{HL7}}}{tag}")
    for key, value in (attrib or {}).items():
        if value is not None:
            node.set(key, value)
    if text is not None:
        node.text = text
    return node


def _typed(parent, tag: str, xsi_type: str, attrib=None, text=None):
    node = _el(parent, tag, attrib, text)
    node.set(f"{{{XSI}}}type", xsi_type)
    return node


def _obs_code(parent, code: str, name: str):
    return _el(parent, "code", {"code": code, "codeSystem": CL_OBSERVATION, "displayName": name})


def _device(parent, tag: str, type_code: str, ident: str, root: str) -> None:
    who = _el(parent, tag, {"typeCode": type_code})
    dev = _el(who, "device", {"classCode": "DEV", "determinerCode": "INSTANCE"})
    _el(dev, "id", {"extension": ident, "root": root})


def _bl(parent, value: bool | None, null: str = "NI"):
    if value is None:
        return _typed(parent, "value", "BL", {"nullFlavor": null})
    return _typed(parent, "value", "BL", {"value": "true" if value else "false"})


def _uid(case: Case, what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pv-tracker:{case.case_id}:{what}"))


def _narrative(case: Case) -> str | None:
    parts = [case.narrative.strip()] if case.narrative and case.narrative.strip() else []
    if case.treatment and case.treatment.strip():
        lang = case.narrative_lang if case.narrative_lang in TREATMENT_LABEL else "en"
        parts.append(TREATMENT_LABEL[lang] + case.treatment.strip())
    return "\n\n".join(parts) or None


# --------------------------------------------------------------------------- the report


def build_e2b(
    case: Case,
    *,
    sender_id: str = "PVTRACKER",
    receiver_id: str = "REGULATOR",
    batch_id: str | None = None,
    created: datetime | None = None,
) -> bytes:
    """The ICSR of `case` as E2B(R3) XML: UTF-8 bytes with the XML declaration."""
    moment = created or datetime.now(UTC).replace(microsecond=0)
    stamp = _stamp(moment)
    root = etree.Element(f"{{{HL7}}}MCCI_IN200100UV01", nsmap=NSMAP)
    root.set("ITSVersion", "XML_1.0")
    root.set(f"{{{XSI}}}schemaLocation", f"{HL7} MCCI_IN200100UV01.xsd")
    # N.1 batch wrapper
    batch = batch_id or f"{case.report_id}-V{case.version}-{moment:%Y%m%d%H%M%S}"
    _el(root, "id", {"extension": batch, "root": OID_BATCH_NUMBER})  # N.1.2
    _el(root, "creationTime", {"value": stamp})
    _el(root, "responseModeCode", {"code": "D"})
    _el(root, "interactionId", {"extension": "MCCI_IN200100UV01", "root": "2.16.840.1.113883.1.6"})
    _el(root, "name", {"code": "1", "codeSystem": code_list(1), "displayName": "ichicsr"})
    # N.2.r message wrapper
    msg = _el(root, "PORR_IN049016UV")
    _el(msg, "id", {"extension": case.report_id, "root": OID_REPORT_ID})
    _el(msg, "creationTime", {"value": stamp})
    _el(msg, "interactionId", {"extension": "PORR_IN049016UV", "root": "2.16.840.1.113883.1.6"})
    _el(msg, "processingCode", {"code": "P"})
    _el(msg, "processingModeCode", {"code": "T"})
    _el(msg, "acceptAckCode", {"code": "AL"})
    _device(msg, "receiver", "RCV", receiver_id, OID_MESSAGE_RECEIVER)
    _device(msg, "sender", "SND", sender_id, OID_MESSAGE_SENDER)
    act = _el(msg, "controlActProcess", {"classCode": "CACT", "moodCode": "EVN"})
    _el(act, "code", {"code": "PORR_TE049016UV", "codeSystem": "2.16.840.1.113883.1.18"})
    _el(act, "effectiveTime", {"value": stamp})  # C.1.2
    subject = _el(act, "subject", {"typeCode": "SUBJ"})
    _investigation(_el(subject, "investigationEvent", {"classCode": "INVSTG", "moodCode": "EVN"}),
                   case)  # fmt: skip
    _device(root, "receiver", "RCV", receiver_id, OID_BATCH_RECEIVER)
    _device(root, "sender", "SND", sender_id, OID_BATCH_SENDER)
    body = etree.tostring(root, encoding="UTF-8", pretty_print=True)  # text as UTF-8, no entities
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def write_e2b(case: Case, path: str | Path, **options) -> Path:
    """Write the ICSR of `case` to `path` (options as `build_e2b`); returns the path."""
    target = Path(path)
    target.write_bytes(build_e2b(case, **options))
    return target


def _investigation(ie, case: Case) -> None:
    _el(ie, "id", {"extension": case.report_id, "root": OID_REPORT_ID})  # C.1.1
    _el(ie, "id", {"extension": case.case_id, "root": OID_CASE_ID})  # C.1.8.1
    _el(ie, "code", {"code": "PAT_ADV_EVNT", "codeSystem": "2.16.840.1.113883.5.4"})
    narrative = _narrative(case)
    if narrative:
        _el(ie, "text", text=narrative)  # H.1
    _el(ie, "statusCode", {"code": "active"})
    when = _el(ie, "effectiveTime")
    _el(when, "low", {"value": hl7_ts(case.first_received)})  # C.1.4
    _el(ie, "availabilityTime", {"value": hl7_ts(case.most_recent)})  # C.1.5

    comp = _el(ie, "component", {"typeCode": "COMP"})
    aea = _el(comp, "adverseEventAssessment", {"classCode": "INVSTG", "moodCode": "EVN"})
    _patient(aea, case)
    _causality(aea, case)

    def flag(code: str, name: str, value: bool) -> None:
        c = _el(ie, "component", {"typeCode": "COMP"})
        ev = _el(c, "observationEvent", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(ev, code, name)
        _bl(ev, value)

    flag("1", "additionalDocumentsAvailable", False)  # C.1.6.1
    flag("23", "localCriteriaForExpedited", bool(case.susar))  # C.1.7
    native = language_code(case.narrative_lang)
    if narrative and native and native != "eng":  # H.5.r
        c = _el(ie, "component", {"typeCode": "COMP"})
        ev = _el(c, "observationEvent", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(ev, "36", "summaryAndComment")
        _typed(ev, "value", "ED", {"language": native}, narrative)
        _assigned_code(ev, "2", "reporter")

    # C.1.8.2 first sender
    rel = _el(ie, "outboundRelationship", {"typeCode": "SPRT"})
    inv = _el(rel, "relatedInvestigation", {"classCode": "INVSTG", "moodCode": "EVN"})
    _el(inv, "code", {"code": "1", "codeSystem": code_list(22), "displayName": "initialReport"})
    ent = _author_entity(_el(inv, "subjectOf2", {"typeCode": "SUBJ"}))
    _el(ent, "code", {"code": "2", "codeSystem": code_list(3)})
    _primary_source(ie, case)
    _sender(ie, case)

    def characteristic(code: str, name: str):
        s = _el(ie, "subjectOf2", {"typeCode": "SUBJ"})
        ic = _el(s, "investigationCharacteristic", {"classCode": "OBS", "moodCode": "EVN"})
        _el(ic, "code", {"code": code, "codeSystem": code_list(23), "displayName": name})
        return ic

    report_type = characteristic("1", "ichReportType")  # C.1.3: report from study
    _typed(report_type, "value", "CE", {"code": "2", "codeSystem": code_list(2)})
    _bl(characteristic("2", "otherCaseIds"), None)  # C.1.9.1


def _author_entity(parent):
    cae = _el(parent, "controlActEvent", {"classCode": "CACT", "moodCode": "EVN"})
    author = _el(cae, "author", {"typeCode": "AUT"})
    return _el(author, "assignedEntity", {"classCode": "ASSIGNED"})


def _assigned_code(parent, code: str, name: str) -> None:
    author = _el(parent, "author", {"typeCode": "AUT"})
    ent = _el(author, "assignedEntity", {"classCode": "ASSIGNED"})
    _el(ent, "code", {"code": code, "codeSystem": code_list(21), "displayName": name})


def _organisation(parent, name: str | None) -> None:
    """representedOrganization (department: none) / assignedEntity / the organisation."""
    outer = _el(parent, "representedOrganization", ORG)
    inner_ent = _el(outer, "assignedEntity", {"classCode": "ASSIGNED"})
    inner = _el(inner_ent, "representedOrganization", ORG)
    if name:
        _el(inner, "name", text=name)
    else:
        _el(inner, "name", {"nullFlavor": "UNK"})


def _split_name(name: str) -> tuple[str | None, str]:
    """(given, family): "Wei Zhang" -> ("Wei", "Zhang"); "张伟" -> (None, "张伟")."""
    words = name.split()
    if len(words) < 2:
        return None, name.strip()
    return " ".join(words[:-1]), words[-1]


def _primary_source(ie, case: Case) -> None:  # C.2.r
    r = case.reporter
    rel = _el(ie, "outboundRelationship", {"typeCode": "SPRT"})
    _el(rel, "priorityNumber", {"value": "1"})  # C.2.r.5
    inv = _el(rel, "relatedInvestigation", {"classCode": "INVSTG", "moodCode": "EVN"})
    _el(inv, "code", {"code": "2", "codeSystem": code_list(22), "displayName": "sourceReport"})
    ent = _author_entity(_el(inv, "subjectOf2", {"typeCode": "SUBJ"}))
    person = _el(ent, "assignedPerson", {"classCode": "PSN", "determinerCode": "INSTANCE"})
    name = _el(person, "name")
    if r.name and r.name.strip():
        given, family = _split_name(r.name)
        if given:
            _el(name, "given", text=given)  # C.2.r.1.2
        _el(name, "family", text=family)  # C.2.r.1.4
    else:
        _el(name, "given", {"nullFlavor": "UNK"})
        _el(name, "family", {"nullFlavor": "UNK"})
    qual = _el(person, "asQualifiedEntity", {"classCode": "QUAL"})  # C.2.r.4
    if r.qualification:
        _el(qual, "code", {"code": r.qualification, "codeSystem": code_list(6)})
    else:
        _el(qual, "code", {"nullFlavor": "UNK", "codeSystem": code_list(6)})
    if r.country:  # C.2.r.3
        loc = _el(person, "asLocatedEntity", {"classCode": "LOCE"})
        place = _el(loc, "location", PLACE)
        _el(place, "code", {"code": r.country, "codeSystem": OID_COUNTRY})
    _organisation(ent, r.organisation)  # C.2.r.2.1


def _sender(ie, case: Case) -> None:  # C.3
    s = _el(ie, "subjectOf1", {"typeCode": "SUBJ"})
    ent = _author_entity(s)
    _el(ent, "code", {"code": "1", "codeSystem": code_list(7), "displayName": "pharmaceutical"})
    _organisation(ent, case.sender)  # C.3.2


def _study(role, case: Case) -> None:  # C.5
    st = case.study
    s = _el(role, "subjectOf1", {"typeCode": "SBJ"})
    rs = _el(s, "researchStudy", {"classCode": "CLNTRL", "moodCode": "EVN"})
    _el(rs, "id", {"extension": st.id, "root": OID_SPONSOR_STUDY})  # C.5.3
    _el(rs, "code", {"code": st.study_type or "1", "codeSystem": code_list(8)})  # C.5.4
    _el(rs, "title", text=st.title)  # C.5.2
    if st.registration:  # C.5.1.r
        auth = _el(rs, "authorization", {"typeCode": "AUTH"})
        reg = _el(auth, "studyRegistration", {"classCode": "ACT", "moodCode": "EVN"})
        _el(reg, "id", {"extension": st.registration, "root": OID_STUDY_REGISTRATION})
        if st.registration_country:
            a = _el(reg, "author", {"typeCode": "AUT"})
            terr = _el(a, "territorialAuthority", {"classCode": "TERR"})
            place = _el(terr, "governingPlace", PLACE)
            _el(place, "code", {"code": st.registration_country, "codeSystem": OID_COUNTRY})


def _subject_obs(role, code: str, name: str):
    s = _el(role, "subjectOf2", {"typeCode": "SBJ"})
    obs = _el(s, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    _obs_code(obs, code, name)
    return obs


def _patient(aea, case: Case) -> None:  # D
    p = case.patient
    s1 = _el(aea, "subject1", {"typeCode": "SBJ"})
    role = _el(s1, "primaryRole", {"classCode": "INVSBJ"})
    player = _el(role, "player1", {"classCode": "PSN", "determinerCode": "INSTANCE"})
    if p.subjid and p.subjid.strip():
        _el(player, "name", text=p.subjid.strip())  # D.1
    else:
        _el(player, "name", {"nullFlavor": "MSK"})
    if p.sex in SEXES:  # D.5
        _el(player, "administrativeGenderCode", {"code": SEXES[p.sex], "codeSystem": OID_SEX})
    else:
        _el(player, "administrativeGenderCode", {"nullFlavor": "UNK", "codeSystem": OID_SEX})
    if p.id:  # D.1.1.4 investigation number
        ident = _el(player, "asIdentifiedEntity", {"classCode": "IDENT"})
        _el(ident, "id", {"extension": p.id, "root": OID_INVESTIGATION_NUMBER})
        _el(ident, "code", {"code": "4", "codeSystem": code_list(4)})  # investigation
    _study(role, case)
    if p.age is not None:  # D.2.2
        _typed(_subject_obs(role, "3", "age"), "value", "PQ", {"value": str(p.age), "unit": "a"})
    if p.weight_kg is not None:  # D.3
        _typed(_subject_obs(role, "7", "bodyWeight"), "value", "PQ",
               {"value": _number(p.weight_kg), "unit": "kg"})  # fmt: skip
    _reaction(role, case)
    s = _el(role, "subjectOf2", {"typeCode": "SBJ"})
    org = _el(s, "organizer", {"classCode": "CATEGORY", "moodCode": "EVN"})
    _el(org, "code", {"code": "4", "codeSystem": code_list(20), "displayName": "drugInformation"})
    for drug in case.drugs:
        _drug(_el(org, "component", {"typeCode": "COMP"}), case, drug)


def _reaction(role, case: Case) -> None:  # E.i
    r = case.reaction
    obs = _subject_obs(role, "29", "reaction")
    obs.insert(0, etree.Element(f"{{{HL7}}}id", root=_uid(case, "reaction")))
    start, end = hl7_ts(r.start), hl7_ts(r.end)
    if start or end:
        span = _typed(obs, "effectiveTime", "IVL_TS")
        if start:
            _el(span, "low", {"value": start})  # E.i.4
        if end:
            _el(span, "high", {"value": end})  # E.i.5
    if r.llt_code:  # E.i.2.1a/b
        value = _typed(obs, "value", "CE", {"code": r.llt_code, "codeSystem": OID_MEDDRA,
                                            "codeSystemVersion": r.meddra_version})  # fmt: skip
    else:
        value = _typed(obs, "value", "CE", {"codeSystem": OID_MEDDRA, "nullFlavor": "UNK"})
    _el(value, "originalText", {"language": language_code(r.lang)}, r.term)  # E.i.1.1a/b
    if case.reporter.country:  # E.i.9: the site's country
        loc = _el(obs, "location", {"typeCode": "LOC"})
        ent = _el(loc, "locatedEntity", {"classCode": "LOCE"})
        place = _el(ent, "locatedPlace", PLACE)
        _el(place, "code", {"code": case.reporter.country, "codeSystem": OID_COUNTRY})

    def pert(code: str, name: str):
        rel = _el(obs, "outboundRelationship2", {"typeCode": "PERT"})
        o = _el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(o, code, name)
        return o

    english = r.term_en or (r.term if language_code(r.lang) == "eng" else None)
    if english:  # E.i.1.2
        _typed(pert("30", "reactionForTranslation"), "value", "ED", text=english)
    for key, code, name in SERIOUSNESS:  # E.i.3.2a-f
        _bl(pert(code, name), True if r.criteria.get(key) else None)
    outcome = OUTCOMES.get((r.outcome or "").upper(), "0")  # E.i.7
    _typed(pert("27", "outcome"), "value", "CE", {"code": outcome, "codeSystem": code_list(11)})


def _dosage(parent, dose: Dose | None, start: str | None, end: str | None) -> None:  # G.k.4.r
    rel = _el(parent, "outboundRelationship2", {"typeCode": "COMP"})
    sa = _el(rel, "substanceAdministration", {"classCode": "SBADM", "moodCode": "EVN"})
    if dose is not None:  # G.k.4.r.8 dosage text, as collected
        words = [_number(dose.dose), dose.unit, dose.route or "", dose.frequency or ""]
        _el(sa, "text", text=" ".join(w for w in words if w))
    period = dose is not None and (dose.frequency or "").upper() == "QD"
    if start or end or period:
        when = _typed(sa, "effectiveTime", "SXPR_TS")
        if period:  # G.k.4.r.2/3: once a day
            _el(_typed(when, "comp", "PIVL_TS"), "period", {"value": "1", "unit": "d"})
        if start or end:
            span = _typed(when, "comp", "IVL_TS", {"operator": "A"})
            if start:
                _el(span, "low", {"value": start})  # G.k.4.r.4
            if end:
                _el(span, "high", {"value": end})  # G.k.4.r.5
    if dose is not None and dose.route:  # G.k.4.r.10.1
        _el(_el(sa, "routeCode"), "originalText", text=dose.route)
    if dose is not None:  # G.k.4.r.1a/b
        unit = ucum(dose.unit)
        if unit:
            _el(sa, "doseQuantity", {"value": _number(dose.dose), "unit": unit})


def _drug(comp, case: Case, drug: SuspectDrug) -> None:  # G.k
    sa = _el(comp, "substanceAdministration", {"classCode": "SBADM", "moodCode": "EVN"})
    _el(sa, "id", {"root": _uid(case, f"drug:{drug.key}")})
    cons = _el(sa, "consumable", {"typeCode": "CSM"})
    inst = _el(cons, "instanceOfKind", {"classCode": "INST"})
    kind = _el(inst, "kindOfProduct", {"classCode": "MMAT", "determinerCode": "KIND"})
    blinded = case.blinded and drug.role == "suspect"
    _el(kind, "name", text=BLINDED_NAME if blinded else drug.name)  # G.k.2.2
    if blinded:  # G.k.2.5 investigational product blinded
        rel = _el(sa, "outboundRelationship2", {"typeCode": "PERT"})
        o = _el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(o, "6", "blinded")
        _bl(o, True)
    if drug.doses:
        for d in drug.doses:
            _dosage(sa, d, hl7_ts(d.start), hl7_ts(d.end))
    elif drug.first_dose or drug.last_dose:
        _dosage(sa, None, hl7_ts(drug.first_dose), hl7_ts(drug.last_dose))
    action = ACTIONS.get((drug.action or "").upper())
    if action is not None:  # G.k.8
        rel = _el(sa, "inboundRelationship", {"typeCode": "CAUS"})
        a = _el(rel, "act", {"classCode": "ACT", "moodCode": "EVN"})
        _el(a, "code", {"code": action, "codeSystem": code_list(15)})


def _causality(aea, case: Case) -> None:  # G.k.1, G.k.9.i.2.r
    reaction_id = _uid(case, "reaction")

    def assessment(code: str, name: str):
        comp = _el(aea, "component", {"typeCode": "COMP"})
        ca = _el(comp, "causalityAssessment", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(ca, code, name)
        return ca

    def product(ca, drug_id: str) -> None:
        s2 = _el(ca, "subject2", {"typeCode": "SUBJ"})
        ref = _el(s2, "productUseReference", {"classCode": "SBADM", "moodCode": "EVN"})
        _el(ref, "id", {"root": drug_id})

    for drug in case.drugs:
        drug_id = _uid(case, f"drug:{drug.key}")
        ca = assessment("20", "interventionCharacterization")
        _typed(ca, "value", "CE", {"code": ROLES.get(drug.role, "1"), "codeSystem": code_list(13)})
        product(ca, drug_id)
    for drug in case.drugs:
        drug_id = _uid(case, f"drug:{drug.key}")
        for (source, method), result in (
            (INVESTIGATOR, drug.investigator_causality),
            (SPONSOR, drug.sponsor_causality),
        ):
            if not result:
                continue
            ca = assessment("39", "causality")
            _typed(ca, "value", "ST", text=result)  # G.k.9.i.2.r.3
            _el(_el(ca, "methodCode"), "originalText", text=method)  # G.k.9.i.2.r.2
            author = _el(ca, "author", {"typeCode": "AUT"})
            ent = _el(author, "assignedEntity", {"classCode": "ASSIGNED"})
            _el(_el(ent, "code"), "originalText", text=source)  # G.k.9.i.2.r.1
            s1 = _el(ca, "subject1", {"typeCode": "SUBJ"})
            ref = _el(s1, "adverseEffectReference", {"classCode": "OBS", "moodCode": "EVN"})
            _el(ref, "id", {"root": reaction_id})  # G.k.9.i.1
            product(ca, drug_id)
