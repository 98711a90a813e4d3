"""An expedited report as an ICH E2B(R3) individual case safety report: HL7 v3 XML.

`build_e2b(case)` writes one `MCCI_IN200100UV01` batch holding one `PORR_IN049016UV`
message holding the ICSR of one `pv.icsr.case.Case`, following the ICH E2B(R3)
implementation guide (v5.02 element paths; identifiers and code systems under the ICH
OID arc 2.16.840.1.113883.3.989.2.1: `.3.x` identifier roots, `.1.x` ICH code lists).
`write_e2b(case, path)` writes the same bytes to a file.

What a report says (ICH element ids):
- N.1 batch header (type ichicsr, batch number `report_id-V<version>-<created>`, sender,
  receiver, date of transmission) and N.2.r message header (message id = C.1.1, sender,
  receiver, date of creation).
- C.1: C.1.1 sender's safety report id (`report_id`), C.1.2 date of creation, C.1.3 = 2
  (report from study), C.1.4 first received (day 0), C.1.5 most recent information,
  C.1.6.1 = false (no documents attached), C.1.7 = true for a SUSAR, C.1.8.1 worldwide
  unique case id (`case_id`), C.1.8.2 = 2 (first sender: other than a regulator),
  C.1.9.1 = NI (no other case ids). C.1.11 (nullification / amendment) is not written.
- C.2.r the primary source (the site's investigator): name (UNK when unknown), C.2.r.2.1
  the site, C.2.r.2.7 telephone (the case's contact when it looks like a number),
  C.2.r.3 country, C.2.r.4 qualification (UNK when unknown), C.2.r.5 = 1.
- C.3 sender: C.3.1 = 1 (pharmaceutical company), C.3.2 the sponsor.
- C.5 study: registration number and country, name, sponsor study number, study type.
- D patient: D.1 the subject id (initials are not collected; MSK when there is none),
  D.1.1.4 the USUBJID as investigation number, D.2.2 age in years, D.3 weight in kg, D.5
  sex (ISO 5218, UNK when unknown); D.7.1.r / D.7.2 medical history (below); D.9 when the
  patient died (a death record, criterion "results in death" or outcome fatal): D.9.1
  date (ASKU when none was given: the IG allows MSK, ASKU, NASK only), D.9.2.r reported
  cause, D.9.3 autopsy (Y true, N false, U -> ASKU, not given -> UNK), D.9.4.r the
  autopsy-determined cause when an autopsy was done.
- E.i the reaction: E.i.1.1a/b as reported with its language (ISO 639-2 alpha-3,
  bibliographic: "chi" Chinese, "eng" English), E.i.1.2 in English, E.i.2.1a/b MedDRA
  version and LLT code, E.i.3.2a-f seriousness (true, else nullFlavor NI as the IG asks),
  E.i.4/E.i.5 start and end at the precision collected (YYYY, YYYYMM, YYYYMMDD, with the
  time when collected; an unknown date is left out), E.i.7 outcome, E.i.9 country.
- F.r one per test: F.r.1 date (UNK when unknown), F.r.2.1 the name as written, F.r.3.2
  value (with its qualifier <, <=, >, >= as an open interval) and F.r.3.3 UCUM unit when
  the result is a number and the unit can be UCUM ("10^9/L" -> "10*9/L"; none -> "1"),
  else F.r.3.4 the result as written with its unit; F.r.4 / F.r.5 the normal range in the
  result's unit when numbers, else as written in F.r.6 comments.
- G.k one per study drug and one per concomitant medication: G.k.1 suspect / concomitant
  (2 for every conmed), G.k.2.2 name as reported ("BLINDED" for a study drug of a blinded
  report, with G.k.2.5 = true), G.k.4.r dosage (one per study-drug dose given up to the
  onset; for a conmed: dose, unit and route as text, G.k.4.r.1a/b when the dose is a
  number with a UCUM unit, start and stop), G.k.7.r indication, G.k.8 action taken,
  G.k.9.i.2.r the investigator's (global introspection) and the sponsor's (WHO-UMC)
  causality, G.k.9.i.4 rechallenge (pv.icsr.models.CHALLENGE_RESULTS: yes 1, no 2,
  na 4; not sent when unknown or when nobody said, as the IG asks), G.k.11 the dechallenge.
- H.1 narrative (as written, with the treatment given and the hospital stay), H.4
  sender's comments on a follow-up (which follow-up, the officer's note, every change
  since the version before), H.5.r the narrative with its language when not English.

Decisions:
- C.1.1 is the same in every version of a case (the IG, C.1.1: "when the same sender
  retransmits the same case (e.g. to transmit follow-up information), C.1.1 usually
  remains constant"; C.1.8: for the first sender C.1.1 and C.1.8.1 are identical). So
  `report_id` = `case_id` (pv.icsr.build / versions set it so); N.2.r.1 = C.1.1 (the IG,
  ACK.B.r.1); a follow-up differs by its batch number, C.1.2, C.1.5 and H.4.
- Medical history: D.7.1.r needs a MedDRA LLT code (D.7.1.r.1b). A term that is, case
  aside, a CTCAE v5.0 term gets that term's code (a MedDRA v20.1 LLT) when the report is
  in MedDRA 20.1 (one version per ICSR); every other term goes as written to D.7.2 text,
  with its start and whether it continues. No history recorded: D.7.2 nullFlavor UNK
  ("not documented", which the IG distinguishes from "None"). The same lookup codes the
  causes of death and the indications; test names stay text (F.r.2.1).
- Hospital admission and discharge dates have no E2B(R3) element: they are told in H.1
  after the narrative. The dechallenge has none either (the IG: G.k.8 with E.i.7
  "describe the dechallenge"): the answer to "did the reaction abate after stopping?" is
  sent as the drug's G.k.11 additional information.
- The reporter's e-mail has no element in C.2.r (only the sender's, C.3.4.8): a contact
  that is not a telephone number is not sent.
- H.1 is kept as written, in Chinese when the site wrote Chinese: there is no English
  narrative to give. Some regions require H.1 in English; the Chinese text is also given
  in H.5.r (language "chi") as the IG provides for case summaries in a native language.
- The words the file adds ("Treatment given:", the hospital stay, D.7.2 and G.k.11 labels)
  follow the narrative's language, not the interface language: the XML is a regulatory
  record, not a page. H.4 is in English: the sender's words to the regulator.
- AEACN "DRUG INTERRUPTED" has no E2B code; it is sent as 1 (drug withdrawn): the drug
  was stopped (a dechallenge).
- Internal ids of the reaction, each drug and each conmed are name-based UUIDs (uuid5)
  of the case id, so the same case gives the same XML.
- Timestamps (N.1.5, N.2.r.4, C.1.2) are to the second with the UTC offset of `created`;
  by default the case's creation date at 00:00:00 UTC, so the bytes depend on the case
  alone (pv.icsr.versions passes the moment the version was frozen).
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from lxml import etree

from pv.icsr.case import MEDDRA_VERSION, Case, ConMed, Dose, LabTest, SuspectDrug

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
# Words the file adds to texts it writes (H.1 hospital dates, D.7.2, G.k.11), in the
# narrative's language: the file is a regulatory record, not a page of the interface.
WORDS = {
    "en": {
        "hospital": "Hospitalisation: ", "admitted": "admitted %s", "discharged": "discharged %s",
        "sep": ", ", "end": ".", "paren": " (%s)", "since": "since %s", "continuing": "continuing",
        "not_continuing": "not continuing",
        "dechallenge": "Dechallenge (did the reaction abate after the drug was stopped?): %s",
        "yes": "yes", "no": "no", "na": "not applicable", "unknown": "unknown",
    },
    "zh": {
        "hospital": "住院：", "admitted": "%s 入院", "discharged": "%s 出院", "sep": "，",
        "end": "。", "paren": "（%s）", "since": "自 %s 起", "continuing": "持续中",
        "not_continuing": "已结束",
        "dechallenge": "去激发（停药后反应是否消失或减轻）：%s",
        "yes": "是", "no": "否", "na": "不适用", "unknown": "未知",
    },
}  # fmt: skip
# G.k.9.i.4 (code list 16) from pv.icsr.models.CHALLENGE_RESULTS: yes -> 1 (rechallenge
# done, reaction recurred), no -> 2 (done, did not recur), na -> 4 (no rechallenge).
# "unknown" is the site not knowing what happened, which is not code 3 ("rechallenge done,
# outcome unknown"): it is not sent, as when nobody answered.
RECHALLENGE = {"yes": "1", "no": "2", "na": "4"}
AUTOPSY_DONE = {"Y": True, "N": False}  # D.9.3; "U" -> ASKU, not given -> UNK
PHONE = re.compile(r"^\+?[0-9(][0-9 ()./\-]{4,30}[0-9]$")  # C.2.r.2.7 when it looks like one
_QUALIFIED = re.compile(r"^(<=|>=|<|>|≤|≥)?\s*([+-]?\d+(?:\.\d+)?)$")  # F.r.3.2 value
H4_MAX = 20000  # H.4 sender's comments: 20000AN

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


def _number(value: float | int | Decimal) -> str:
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


def _lang(case: Case) -> str:
    return case.narrative_lang if case.narrative_lang in WORDS else "en"


def _narrative(case: Case) -> str | None:
    lang = _lang(case)
    words = WORDS[lang]
    parts = [case.narrative.strip()] if case.narrative and case.narrative.strip() else []
    if case.treatment and case.treatment.strip():
        parts.append(TREATMENT_LABEL[lang] + case.treatment.strip())
    stay = []  # no E2B(R3) element holds hospital dates: they are told in H.1
    if case.hospital_admission:
        stay.append(words["admitted"] % case.hospital_admission)
    if case.hospital_discharge:
        stay.append(words["discharged"] % case.hospital_discharge)
    if stay:
        parts.append(words["hospital"] + words["sep"].join(stay) + words["end"])
    return "\n\n".join(parts) or None


@lru_cache(maxsize=1)
def _ctcae_codes() -> dict[str, str]:
    """CTCAE v5.0 term (lower case) -> its code, a MedDRA v20.1 LLT code (the shipped CSV)."""
    from pv import paths

    try:
        with paths.CTCAE_V5_CSV.open(encoding="utf-8", newline="") as fh:
            return {r["term"].strip().lower(): r["meddra_code"].strip() for r in csv.DictReader(fh)}
    except OSError:  # pragma: no cover - the CSV ships with the package
        return {}


def meddra_code(case: Case, term: str | None) -> str | None:
    """The MedDRA LLT code of a free-text term when it is, letter for letter (case aside),
    a CTCAE v5.0 term, and the report's MedDRA version is v20.1 (one version per ICSR);
    else None (the term goes as text)."""
    if not term or case.reaction.meddra_version != MEDDRA_VERSION:
        return None
    return _ctcae_codes().get(term.strip().lower())


def _meddra_value(parent, tag: str, case: Case, text: str | None, code: str | None = None):
    """A CE in MedDRA: the LLT code and version when known, the words as originalText."""
    code = code or meddra_code(case, text)
    attrib = {"codeSystem": OID_MEDDRA}
    if code:
        attrib = {"code": code, "codeSystem": OID_MEDDRA, "codeSystemVersion": MEDDRA_VERSION}
    node = _typed(parent, tag, "CE", attrib) if tag == "value" else _el(parent, tag, attrib)
    if text:
        _el(node, "originalText", text=text)
    return node


# --------------------------------------------------------------------------- the report


def build_e2b(
    case: Case,
    *,
    sender_id: str = "PVTRACKER",
    receiver_id: str = "REGULATOR",
    batch_id: str | None = None,
    created: datetime | None = None,
) -> bytes:
    """The ICSR of `case` as E2B(R3) XML: UTF-8 bytes with the XML declaration. `created`
    (N.1.5, N.2.r.4, C.1.2) defaults to the case's creation date at 00:00:00 UTC, so the
    same case always gives the same bytes."""
    moment = created or datetime.combine(case.created, time(0), UTC)
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
    comments = sender_comments(case)
    if comments:  # H.4 sender's comments: what a follow-up adds
        c = _el(aea, "component1", {"typeCode": "COMP"})
        ev = _el(c, "observationEvent", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(ev, "10", "comment")
        _typed(ev, "value", "ED", text=comments)
        _assigned_code(ev, "1", "sender")

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


def _shown(value) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def sender_comments(case: Case) -> str | None:
    """H.4 of a follow-up: which follow-up it is, the officer's note, and each change since
    the version before (dotted path: old -> new), in English (the sender's words to the
    regulator; values as recorded). None for an initial report without a note."""
    if case.initial and not case.note and not case.changes:
        return None
    parts = []
    if not case.initial:
        parts.append(f"Follow-up report {case.version - 1} (report version {case.version}).")
    if case.note and case.note.strip():
        note = " ".join(case.note.split())
        parts.append("Note: " + note + ("" if note[-1] in ".!?。！？" else "."))
    if case.changes:
        since = f"version {case.version - 1}" if case.version > 1 else "the last report"
        items = [f"{c.field}: {_shown(c.old)} -> {_shown(c.new)}" for c in case.changes]
        parts.append(f"Changed since {since}: " + "; ".join(items) + ".")
    text = " ".join(parts)
    return text if len(text) <= H4_MAX else text[: H4_MAX - 1] + "…"


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
    phone = telephone(r.contact)
    if phone:  # C.2.r.2.7 (the IG has no e-mail element for the primary source)
        _el(ent, "telecom", {"value": "tel:" + phone})
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


def telephone(contact: str | None) -> str | None:
    """The contact as a telephone number (C.2.r.2.7) when it looks like one: digits with
    an optional leading +, spaces, dots, dashes, slashes or brackets between (spaces and
    brackets dropped, as the IG asks for separators limited to dashes or dots)."""
    text = (contact or "").strip()
    if not PHONE.match(text) or sum(ch.isdigit() for ch in text) < 6:
        return None
    return re.sub(r"[\s()/]+", "-", text).strip("-").replace("+-", "+")


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
    died = _died(case)
    if died:  # D.9.1 (MSK, ASKU or NASK when no date: the form asked, none was given)
        when = hl7_ts(case.death.date) if case.death else None
        _el(player, "deceasedTime", {"value": when} if when else {"nullFlavor": "ASKU"})
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
    _history(role, case)
    if died:
        _death(role, case)
    _reaction(role, case)
    _tests(role, case)
    org = _organizer(role, "4", "drugInformation")
    for drug in case.drugs:
        _drug(_el(org, "component", {"typeCode": "COMP"}), case, drug)
    for i, med in enumerate(case.conmeds):
        _conmed(_el(org, "component", {"typeCode": "COMP"}), case, i, med)


def _organizer(role, code: str, name: str):
    s = _el(role, "subjectOf2", {"typeCode": "SBJ"})
    org = _el(s, "organizer", {"classCode": "CATEGORY", "moodCode": "EVN"})
    _el(org, "code", {"code": code, "codeSystem": code_list(20), "displayName": name})
    return org


def _component_obs(org, code: str | None = None, name: str | None = None):
    c = _el(org, "component", {"typeCode": "COMP"})
    o = _el(c, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    if code:
        _obs_code(o, code, name or "")
    return o


def _history(role, case: Case) -> None:  # D.7
    """D.7.1.r for a term that is a CTCAE v5.0 term (its MedDRA 20.1 LLT code known:
    D.7.1.r.1b is required in each block); every other term, as written, in D.7.2 text;
    no history recorded -> D.7.2 nullFlavor UNK (the IG: 'not documented', not 'None')."""
    org = _organizer(role, "1", "relevantMedicalHistoryAndConcurrentConditions")
    words = WORDS[_lang(case)]
    lines = []
    for item in case.history:
        code = meddra_code(case, item.term)
        if code is None:
            extra = [words["since"] % item.start] if item.start else []
            if item.ongoing is not None:
                extra.append(words["continuing" if item.ongoing else "not_continuing"])
            lines.append(item.term + (words["paren"] % words["sep"].join(extra) if extra else ""))
            continue
        o = _component_obs(org)
        _meddra_value(o, "code", case, item.term, code)  # D.7.1.r.1a/b
        start = hl7_ts(item.start)
        if start:
            span = _typed(o, "effectiveTime", "IVL_TS")
            _el(span, "low", {"value": start})  # D.7.1.r.2
        rel = _el(o, "outboundRelationship2", {"typeCode": "COMP"})
        cont = _el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(cont, "13", "continuing")
        _bl(cont, item.ongoing, "UNK")  # D.7.1.r.3
    text = _component_obs(org, "18", "historyAndConcurrentConditionText")
    if lines:
        _typed(text, "value", "ED", text="; ".join(lines))  # D.7.2
    elif not case.history:
        _typed(text, "value", "ED", {"nullFlavor": "UNK"})
    else:  # everything was coded: D.7.2 is not needed
        text.getparent().getparent().remove(text.getparent())


def _died(case: Case) -> bool:
    r = case.reaction
    return (
        case.death is not None
        or bool(r.criteria.get("aesdth"))
        or (r.outcome or "").upper() == "FATAL"
    )


def _death(role, case: Case) -> None:  # D.9.2.r, D.9.3, D.9.4.r
    d = case.death
    if d is not None and d.cause and d.cause.strip():  # D.9.2.r.1a/b, D.9.2.r.2
        _meddra_value(_subject_obs(role, "32", "reportedCauseOfDeath"), "value", case,
                      d.cause.strip())  # fmt: skip
    autopsy = _subject_obs(role, "5", "autopsy")  # D.9.3: required with D.9.1
    done = AUTOPSY_DONE.get(d.autopsy) if d is not None and d.autopsy else None
    null = "ASKU" if d is not None and d.autopsy == "U" else "UNK"
    _bl(autopsy, done, null)
    if done and d is not None and d.autopsy_cause and d.autopsy_cause.strip():  # D.9.4.r
        rel = _el(autopsy, "outboundRelationship2", {"typeCode": "DRIV"})
        o = _el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(o, "8", "autopsyDeterminedCauseOfDeath")
        _meddra_value(o, "value", case, d.autopsy_cause.strip())


def _unit(unit: str | None) -> str | None:
    """A result unit as UCUM (F.r.3.3) when it can be one: ASCII, no spaces; "10^9/L" and
    "×10^9/L" -> "10*9/L"; no unit -> "1" (a count or ratio). None: not UCUM."""
    if unit is None or not unit.strip():
        return "1"
    u = ucum(re.sub(r"^[x×]\s*", "", unit.strip()).replace("^", "*"))
    if u is None or not u.isascii() or not u.isprintable():
        return None
    return u


def _tests(role, case: Case) -> None:  # F.r
    if not case.tests:
        return
    org = _organizer(role, "3", "testsAndProceduresRelevantToTheInvestigation")
    for t in case.tests:
        o = _component_obs(org)
        _el(_el(o, "code"), "originalText", text=t.name)  # F.r.2.1 (F.r.2.2b: not coded)
        when = hl7_ts(t.date)
        _el(o, "effectiveTime", {"value": when} if when else {"nullFlavor": "UNK"})  # F.r.1
        _result(o, t)


def _result(o, t: LabTest) -> None:  # F.r.3 - F.r.6
    unit = _unit(t.unit)
    value = (t.value or "").strip()
    m = _QUALIFIED.match(value)
    comments = []
    if m and unit:  # F.r.3.2 value (with its qualifier) and F.r.3.3 unit
        qualifier, number = m.groups()
        number = _number(Decimal(number))
        v = _typed(o, "value", "IVL_PQ")
        if not qualifier:
            _el(v, "center", {"value": number, "unit": unit})
        elif qualifier in ("<", "<=", "≤"):
            _el(v, "high", {"value": number, "unit": unit,
                            "inclusive": "false" if qualifier == "<" else "true"})  # fmt: skip
        else:
            _el(v, "low", {"value": number, "unit": unit,
                           "inclusive": "false" if qualifier == ">" else "true"})  # fmt: skip
    elif value:  # F.r.3.4: results and units that cannot be split
        _typed(o, "value", "ED", text=" ".join(w for w in (value, t.unit or "") if w))
    else:
        _typed(o, "value", "ED", {"nullFlavor": "UNK"})
    for bound, code in ((t.low, "L"), (t.high, "H")):  # F.r.4 normal low, F.r.5 high
        b = (bound or "").strip()
        if not b:
            continue
        if _number_or_none(b) is not None and unit:
            rr = _el(o, "referenceRange", {"typeCode": "REFV"})
            orng = _el(rr, "observationRange", {"classCode": "OBS", "moodCode": "EVN.CRT"})
            _typed(orng, "value", "PQ", {"value": _number(Decimal(b)), "unit": unit})
            _el(orng, "interpretationCode", {"code": code, "codeSystem": "2.16.840.1.113883.5.83"})
        else:
            comments.append(b)
    if comments:  # F.r.6: a normal range that is not a number, as written
        rel = _el(o, "outboundRelationship2", {"typeCode": "REFR"})
        c = _el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(c, "10", "comment")
        _typed(c, "value", "ED", text=" - ".join(comments))


def _number_or_none(text: str) -> Decimal | None:
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


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
    recur = RECHALLENGE.get((drug.rechallenge or "").lower())
    if recur is not None:  # G.k.9.i.4 (not sent when nobody said: the IG)
        rel = _el(sa, "outboundRelationship2", {"typeCode": "PERT"})
        o = _el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        _obs_code(o, "31", "recurranceOfReaction")
        _typed(o, "value", "CE", {"code": recur, "codeSystem": code_list(16)})
        ref = _el(_el(o, "outboundRelationship1", {"typeCode": "REFR"}), "actReference",
                  {"classCode": "OBS", "moodCode": "EVN"})  # fmt: skip
        _el(ref, "id", {"root": _uid(case, "reaction")})  # G.k.9.i.1
    dechallenge = (drug.dechallenge or "").lower()
    if dechallenge in WORDS["en"]:  # G.k.11: no E2B(R3) element holds the dechallenge
        words = WORDS[_lang(case)]
        _additional(sa, words["dechallenge"] % words[dechallenge])
    action = ACTIONS.get((drug.action or "").upper())
    if action is not None:  # G.k.8
        rel = _el(sa, "inboundRelationship", {"typeCode": "CAUS"})
        a = _el(rel, "act", {"classCode": "ACT", "moodCode": "EVN"})
        _el(a, "code", {"code": action, "codeSystem": code_list(15)})
    _indication(sa, case, drug.indication)


def _additional(sa, text: str) -> None:  # G.k.11 additional information on drug
    rel = _el(sa, "outboundRelationship2", {"typeCode": "REFR"})
    o = _el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    _obs_code(o, "2", "additionalInformation")
    _typed(o, "value", "ST", text=text)


def _indication(sa, case: Case, indication: str | None) -> None:  # G.k.7.r
    if not indication or not indication.strip():
        return
    rel = _el(sa, "inboundRelationship", {"typeCode": "RSON"})
    o = _el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    _obs_code(o, "19", "indication")
    _meddra_value(o, "value", case, indication.strip())  # G.k.7.r.1, G.k.7.r.2a/b
    perf = _el(o, "performer", {"typeCode": "PRF"})
    ent = _el(perf, "assignedEntity", {"classCode": "ASSIGNED"})
    _el(ent, "code", {"code": "3", "codeSystem": code_list(21), "displayName": "sourceReporter"})


def _conmed(comp, case: Case, index: int, med: ConMed) -> None:  # G.k with G.k.1 = 2
    sa = _el(comp, "substanceAdministration", {"classCode": "SBADM", "moodCode": "EVN"})
    _el(sa, "id", {"root": _uid(case, f"conmed:{index}")})
    cons = _el(sa, "consumable", {"typeCode": "CSM"})
    inst = _el(cons, "instanceOfKind", {"classCode": "INST"})
    kind = _el(inst, "kindOfProduct", {"classCode": "MMAT", "determinerCode": "KIND"})
    _el(kind, "name", text=med.name)  # G.k.2.2
    rel = _el(sa, "outboundRelationship2", {"typeCode": "COMP"})  # G.k.4.r
    dose = _el(rel, "substanceAdministration", {"classCode": "SBADM", "moodCode": "EVN"})
    words = [_number(med.dose) if med.dose is not None else "", med.unit or "", med.route or ""]
    text = " ".join(w for w in words if w)
    if text:
        _el(dose, "text", text=text)  # G.k.4.r.8
    start, stop = hl7_ts(med.start), hl7_ts(med.stop)
    if start or stop:
        span = _typed(_typed(dose, "effectiveTime", "SXPR_TS"), "comp", "IVL_TS",
                      {"operator": "A"})  # fmt: skip
        if start:
            _el(span, "low", {"value": start})  # G.k.4.r.4
        if stop:
            _el(span, "high", {"value": stop})  # G.k.4.r.5
    if med.route:  # G.k.4.r.10.1
        _el(_el(dose, "routeCode"), "originalText", text=med.route)
    unit = ucum(med.unit)
    if med.dose is not None and unit:  # G.k.4.r.1a/b
        _el(dose, "doseQuantity", {"value": _number(med.dose), "unit": unit})
    _indication(sa, case, med.indication)


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

    roles = [(_uid(case, f"drug:{d.key}"), ROLES.get(d.role, "1")) for d in case.drugs]
    roles += [(_uid(case, f"conmed:{i}"), ROLES["concomitant"]) for i in range(len(case.conmeds))]
    for drug_id, role in roles:
        ca = assessment("20", "interventionCharacterization")
        _typed(ca, "value", "CE", {"code": role, "codeSystem": code_list(13)})
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
