"""The receiver's acknowledgement of an E2B(R3) ICSR batch: HL7 `MCCI_IN200101UV01`.

`parse_ack(data)` reads an uploaded ACK and says what the receiver decided; `build_ack(
report_xml, outcome, message)` writes the ACK a receiver would send back for one of our
batches (the demo and the browser test use it in place of a regulator's gateway).

The ACK (ICH E2B(R3) implementation guide, section ACK; element ids as there):
- ACK.M.1 acknowledgement batch number (`id`), ACK.M.2 / ACK.M.3 its sender and receiver
  (`sender|receiver/device/id`, roots .3.17 / .3.18), ACK.M.4 its date (`creationTime`).
- ACK.A.1 the ICSR batch number acknowledged (= our N.1.2, `acknowledgement/targetBatch/id`),
  ACK.A.4 the transmission acknowledgement code (`acknowledgement/@typeCode`):
  AA accepted, AE error (some ICSR messages need further action), AR rejected (the batch
  could not be parsed: re-send all); ACK.A.5 batch validation error text.
- one `MCCI_IN000002UV01` per ICSR message: ACK.B.r.1 the ICSR message number (= our
  N.2.r.1 and C.1.1, `acknowledgement/targetMessage/id`), ACK.B.r.2 the receiver's local
  report number (`id`, root .3.19), ACK.B.r.6 the message acknowledgement code
  (`acknowledgement/@typeCode`: CA commit accept, the ICSR was loaded; CR commit reject,
  a fatal error kept it out), ACK.B.r.7 error / warning text (`acknowledgementDetail/text`;
  with CA it carries non-fatal warnings).

The outcome (pv.icsr.models.AckOutcome):
- rejected: any ACK.B.r.6 = CR, or ACK.A.4 = AR;
- accepted_with_errors: every ACK.B.r.6 = CA but one of them carries ACK.B.r.7 text, or
  ACK.A.4 = AE (with CA messages, or with no message-level acknowledgement at all);
- accepted: ACK.B.r.6 = CA without ACK.B.r.7 text and ACK.A.4 = AA, or ACK.A.4 = AA with
  no message-level acknowledgement.
`Ack.code` is the code that decided (CR / CA when the ACK has message-level codes, else
the batch's AA / AE / AR); `Ack.message` joins ACK.B.r.7 and ACK.A.5 texts.

Safety: the file is at most `MAX_ACK_BYTES`; it is parsed by lxml with entities left
unresolved, no DTD loaded, no network, no huge-tree mode, and a file that declares a
document type (DTD, entities: "billion laughs", external entities) is refused before and
after parsing. Every text taken from the file is cut to a bound. A file that is not an ACK
is refused saying which element is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from lxml import etree

from pv.i18n import gettext as _
from pv.icsr.e2b import HL7, _el  # one HL7 v3 element writer for the ICSR and its ACK
from pv.icsr.models import AckOutcome

XSI = "http://www.w3.org/2001/XMLSchema-instance"
H = {"h": HL7}
ICH = "2.16.840.1.113883.3.989.2.1"
ROOT = "MCCI_IN200101UV01"
ICSR_ROOT = "MCCI_IN200100UV01"
MAX_ACK_BYTES = 1_000_000  # an ACK of a few hundred messages is well under 1 MB
MAX_ID = 100  # ACK.A.1, ACK.B.r.1: 100AN in the IG
MAX_TEXT = 250  # ACK.A.5, ACK.B.r.7: 250AN each
MAX_MESSAGE = 2000  # the joined texts kept in Ack.message
MAX_MESSAGES = 1000  # ICSR messages acknowledged in one file
BATCH_CODES = ("AA", "AE", "AR")  # ACK.A.4
REPORT_CODES = ("CA", "CR")  # ACK.B.r.6

OID_ACK_BATCH = f"{ICH}.3.20"  # ACK.M.1
OID_ACK_BATCH_SENDER = f"{ICH}.3.17"  # ACK.M.2
OID_ACK_BATCH_RECEIVER = f"{ICH}.3.18"  # ACK.M.3
OID_ACK_MESSAGE_SENDER = f"{ICH}.3.15"  # ACK.B.r.4
OID_ACK_MESSAGE_RECEIVER = f"{ICH}.3.16"  # ACK.B.r.3
OID_LOCAL_REPORT = f"{ICH}.3.19"  # ACK.B.r.2
OID_LOCAL_MESSAGE = f"{ICH}.3.21"  # ACK.A.2
OID_BATCH_NUMBER = f"{ICH}.3.22"  # ACK.A.1 (= N.1.2)
OID_REPORT_ID = f"{ICH}.3.1"  # ACK.B.r.1 (= N.2.r.1 = C.1.1)
CL_ACK_KEYWORDS = f"{ICH}.1.24"


class AckError(ValueError):
    """The file is not an E2B(R3) acknowledgement that can be read; the message says why."""


@dataclass(frozen=True)
class Ack:
    code: str  # the code that decided: CA / CR, or AA / AE / AR when no message-level code
    outcome: AckOutcome
    message: str | None  # ACK.B.r.7 and ACK.A.5 texts, joined, bounded
    report_ids: tuple[str, ...]  # ACK.B.r.1 of each message acknowledged (our C.1.1)
    batch_id: str | None  # ACK.A.1: our N.1.2
    received: datetime | None  # ACK.M.4, aware (UTC when the file gives no offset)
    batch_code: str = ""  # ACK.A.4 as sent
    report_codes: tuple[str, ...] = ()  # ACK.B.r.6 of each message, as sent


# --------------------------------------------------------------------------- parsing

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{2}(?:\d{2})?)?$")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True,
    )  # fmt: skip


def _load(data: bytes) -> etree._Element:
    if not data or not data.strip():
        raise AckError(_("The acknowledgement file is empty."))
    if len(data) > MAX_ACK_BYTES:
        raise AckError(
            _("The acknowledgement file is %(size)s KB; at most %(max)s KB is accepted.",
              size=len(data) // 1000, max=MAX_ACK_BYTES // 1000)
        )  # fmt: skip
    if _DOCTYPE.search(data):
        raise AckError(_no_dtd())
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise AckError(
            _("The acknowledgement is not well-formed XML: %(error)s", error=_bound(str(exc)))
        ) from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise AckError(_no_dtd())
    return root


def _no_dtd() -> str:
    return _(
        "The acknowledgement declares a document type (DTD or entities); E2B(R3) files "
        "never do, so it is refused."
    )


def _bound(text: str | None, limit: int = MAX_TEXT) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())  # one line: no control characters, no runs of spaces
    text = "".join(ch for ch in text if ch.isprintable())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _missing(element: str, eid: str) -> AckError:
    return AckError(_("This acknowledgement has no %(element)s (%(id)s).", element=element, id=eid))


def _first(node, path: str):
    found = node.xpath(path, namespaces=H)
    return found[0] if found else None


def _text_of(node, path: str) -> str | None:
    found = node.xpath(path, namespaces=H)
    if not found:
        return None
    return _bound("".join(found[0].itertext()))


def _received(value: str | None) -> datetime | None:
    m = _TS.match((value or "").strip())
    if not m:
        return None
    y, mo, d, hh, mi, ss, zone = m.groups()
    tz = UTC
    if zone:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0)))
    try:
        moment = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                          tzinfo=tz)  # fmt: skip
    except ValueError:
        return None
    return moment.astimezone(UTC)


def parse_ack(data: bytes) -> Ack:
    """The receiver's decision in an ACK file (see the module docstring); AckError if the
    file is not an E2B(R3) acknowledgement."""
    root = _load(data)
    name = etree.QName(root)
    if name.localname == ICSR_ROOT:
        raise AckError(
            _("This file is an ICSR batch (MCCI_IN200100UV01), not its acknowledgement "
              "(MCCI_IN200101UV01).")
        )  # fmt: skip
    if name.localname != ROOT:
        raise AckError(
            _("This file is a %(root)s, not an E2B(R3) acknowledgement (MCCI_IN200101UV01).",
              root=_bound(name.localname, 60))
        )  # fmt: skip
    if name.namespace != HL7:
        raise AckError(_("The acknowledgement is not in the HL7 v3 namespace (urn:hl7-org:v3)."))
    batch_ack = _first(root, "h:acknowledgement")
    if batch_ack is None:
        raise _missing("acknowledgement", "ACK.A.4")
    batch_code = (batch_ack.get("typeCode") or "").strip().upper()
    if not batch_code:
        raise _missing("acknowledgement/@typeCode", "ACK.A.4")
    if batch_code not in BATCH_CODES:
        raise AckError(
            _("The code %(code)s of %(id)s is not one of %(allowed)s.",
              code=_bound(batch_code, 10), id="ACK.A.4", allowed=", ".join(BATCH_CODES))
        )  # fmt: skip
    batch_id = None
    target = _first(batch_ack, "h:targetBatch/h:id")
    if target is not None:
        batch_id = _bound(target.get("extension"), MAX_ID)
    texts: list[str] = []
    batch_text = _text_of(batch_ack, "h:acknowledgementDetail/h:text")

    messages = root.xpath("h:MCCI_IN000002UV01", namespaces=H)
    if len(messages) > MAX_MESSAGES:
        raise AckError(
            _("The acknowledgement lists %(n)s reports; at most %(max)s are read.",
              n=len(messages), max=MAX_MESSAGES)
        )  # fmt: skip
    report_ids: list[str] = []
    report_codes: list[str] = []
    warned = False
    for i, msg in enumerate(messages, start=1):
        ack = _first(msg, "h:acknowledgement")
        code = (ack.get("typeCode") or "").strip().upper() if ack is not None else ""
        if not code:
            raise _missing(f"MCCI_IN000002UV01[{i}]/acknowledgement/@typeCode", "ACK.B.r.6")
        if code not in REPORT_CODES:
            raise AckError(
                _("The code %(code)s of %(id)s is not one of %(allowed)s.",
                  code=_bound(code, 10), id="ACK.B.r.6", allowed=", ".join(REPORT_CODES))
            )  # fmt: skip
        ident = _first(ack, "h:targetMessage/h:id")
        report_id = _bound(ident.get("extension"), MAX_ID) if ident is not None else None
        if not report_id:
            raise _missing(
                f"MCCI_IN000002UV01[{i}]/acknowledgement/targetMessage/id/@extension",
                "ACK.B.r.1",
            )
        report_ids.append(report_id)
        report_codes.append(code)
        detail = _text_of(ack, "h:acknowledgementDetail/h:text")
        if detail:
            warned = True
            texts.append(detail if len(messages) == 1 else f"{report_id}: {detail}")
    if batch_text:
        texts.append(batch_text)

    if report_codes:
        code = "CR" if "CR" in report_codes else "CA"
        if code == "CR" or batch_code == "AR":
            outcome = AckOutcome.rejected
        elif warned or batch_code == "AE":
            outcome = AckOutcome.accepted_with_errors
        else:
            outcome = AckOutcome.accepted
        if batch_code == "AR":
            code = "AR"
    else:
        code = batch_code
        outcome = {
            "AA": AckOutcome.accepted,
            "AE": AckOutcome.accepted_with_errors,
            "AR": AckOutcome.rejected,
        }[batch_code]
    message = " | ".join(texts) if texts else None
    if message and len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    created = _first(root, "h:creationTime")
    return Ack(
        code=code,
        outcome=outcome,
        message=message,
        report_ids=tuple(report_ids),
        batch_id=batch_id,
        received=_received(created.get("value") if created is not None else None),
        batch_code=batch_code,
        report_codes=tuple(report_codes),
    )


# --------------------------------------------------------------------------- building


def _device(parent, tag: str, type_code: str, ident: str | None, root: str) -> None:
    who = _el(parent, tag, {"typeCode": type_code})
    dev = _el(who, "device", {"classCode": "DEV", "determinerCode": "INSTANCE"})
    _el(dev, "id", {"extension": ident or "UNKNOWN", "root": root})


def _attention(parent, code: str, name: str, xsi_type: str, attrib: dict[str, str | None]):
    line = _el(parent, "attentionLine")
    _el(line, "keyWordText", {"code": code, "codeSystem": CL_ACK_KEYWORDS, "displayName": name})
    value = _el(line, "value", attrib)
    value.set(f"{{{XSI}}}type", xsi_type)


def build_ack(
    report_xml: bytes,
    outcome: AckOutcome | str,
    message: str | None = None,
    *,
    at: datetime | None = None,
) -> bytes:
    """The ACK a receiver would send back for `report_xml` (one of our MCCI_IN200100UV01
    batches): accepted -> AA / CA; accepted_with_errors -> AE / CA with `message` as the
    ACK.B.r.7 warning; rejected -> AE / CR with `message` as the error (the batch was read,
    the report was not loaded). `at` is ACK.M.4 (default: now, UTC)."""
    outcome = AckOutcome(outcome)
    try:
        report = etree.fromstring(report_xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise AckError(f"not an ICSR batch: {exc}") from exc
    if etree.QName(report).localname != ICSR_ROOT:
        raise AckError(f"not an ICSR batch: {etree.QName(report).localname}")

    def ext(node, path: str) -> str | None:
        found = node.xpath(path, namespaces=H)
        return found[0] if found else None

    batch_id = ext(report, "h:id/@extension")
    batch_sender = ext(report, "h:sender/h:device/h:id/@extension")
    batch_receiver = ext(report, "h:receiver/h:device/h:id/@extension")
    batch_time = ext(report, "h:creationTime/@value")
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    stamp = moment.strftime("%Y%m%d%H%M%S+0000")
    if outcome == AckOutcome.accepted:
        batch_code, report_code, detail = "AA", "CA", None
    elif outcome == AckOutcome.accepted_with_errors:
        batch_code, report_code = "AE", "CA"
        detail = message or "Loaded with warnings"
    else:
        batch_code, report_code = "AE", "CR"
        detail = message or "Not loaded: fatal error"

    root = etree.Element(f"{{{HL7}}}{ROOT}", nsmap={None: HL7, "xsi": XSI})
    root.set("ITSVersion", "XML_1.0")
    _el(root, "id", {"extension": f"ACK-{batch_id or 'UNKNOWN'}", "root": OID_ACK_BATCH})
    _el(root, "creationTime", {"value": stamp})  # ACK.M.4
    _el(root, "responseModeCode", {"code": "D"})
    _el(root, "interactionId", {"extension": ROOT, "root": "2.16.840.1.113883.1.6"})
    for n, msg in enumerate(report.xpath("h:PORR_IN049016UV", namespaces=H), start=1):
        m = _el(root, "MCCI_IN000002UV01")
        _el(m, "id", {"extension": f"LOCAL-{n}", "root": OID_LOCAL_REPORT})  # ACK.B.r.2
        _el(m, "creationTime", {"value": stamp})
        _el(m, "interactionId", {"extension": "MCCI_IN000002UV01",
                                 "root": "2.16.840.1.113883.1.6"})  # fmt: skip
        _el(m, "processingCode", {"code": "P"})
        _el(m, "processingModeCode", {"code": "T"})
        _el(m, "acceptAckCode", {"code": "NE"})
        _device(m, "receiver", "RCV", ext(msg, "h:sender/h:device/h:id/@extension"),
                OID_ACK_MESSAGE_RECEIVER)  # ACK.B.r.3  # fmt: skip
        _device(m, "sender", "SND", ext(msg, "h:receiver/h:device/h:id/@extension"),
                OID_ACK_MESSAGE_SENDER)  # ACK.B.r.4  # fmt: skip
        _attention(m, "1", "dateOfIcsrMessageCreation", "TS",
                   {"value": ext(msg, "h:creationTime/@value")})  # ACK.B.r.5  # fmt: skip
        ack = _el(m, "acknowledgement", {"typeCode": report_code})  # ACK.B.r.6
        target = _el(ack, "targetMessage")
        _el(target, "id", {"extension": ext(msg, "h:id/@extension"), "root": OID_REPORT_ID})
        if detail:
            _el(_el(ack, "acknowledgementDetail"), "text", text=detail)  # ACK.B.r.7
    _device(root, "receiver", "RCV", batch_sender, OID_ACK_BATCH_RECEIVER)  # ACK.M.3
    _device(root, "sender", "SND", batch_receiver, OID_ACK_BATCH_SENDER)  # ACK.M.2
    _attention(
        root,
        "2",
        "acknowledgementLocalMessageNumber",
        "II",
        {"extension": f"LOCAL-{batch_id or 'UNKNOWN'}", "root": OID_LOCAL_MESSAGE},
    )
    _attention(root, "3", "dateOfIcsrBatchTransmission", "TS", {"value": batch_time})  # ACK.A.3
    ack = _el(root, "acknowledgement", {"typeCode": batch_code})  # ACK.A.4
    _el(_el(ack, "targetBatch"), "id", {"extension": batch_id, "root": OID_BATCH_NUMBER})
    if batch_code != "AA":
        _el(_el(ack, "acknowledgementDetail"), "text",
            text="Some ICSR messages need further action")  # ACK.A.5  # fmt: skip
    body = etree.tostring(root, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
