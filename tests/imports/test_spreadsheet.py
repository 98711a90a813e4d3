"""Spreadsheet upload: template, hostile files, field conversion, all-or-nothing, audit."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from datetime import date, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor, jsonable
from pv.db import read_session, write_session
from pv.events.bulk import BulkRow, BulkValidationFailed, create_events_bulk
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import EVENT_FIELDS, create_event, replay, snapshot
from pv.exposure.service import add_exposure
from pv.imports.spreadsheet import (
    RowError,
    UploadRefused,
    error_report_csv,
    import_upload,
    parse_upload,
    template_for_study,
)
from pv.settings import Settings
from pv.study.models import Drug, Subject

HEADER = ["USUBJID", "AETERM", "AELLTCD", "AEDECOD", "AETOXGR", "AESER", "AESDTH", "AESLIFE",
          "AESHOSP", "AESDISAB", "AESCONG", "AESMIE", "AESTDTC", "AEENDTC", "AEONGO", "AEOUT",
          "AEREL_BELIMUMAB", "AEREL_PREDNISONE", "AEACN_BELIMUMAB", "AEACN_PREDNISONE",
          "AECONTRT", "NARRATIVE"]  # fmt: skip
HEADACHE, ANAPHYLAXIS, ALLERGIC = "10019211", "10002218", "10001718"
ACTOR = Actor(username="inv1", user_id=None, role="investigator")


def good(usubjid: str, **over: str) -> dict[str, str]:
    row = {"USUBJID": usubjid, "AETERM": "headache after visit", "AELLTCD": HEADACHE,
           "AETOXGR": "1", "AESER": "N", "AESTDTC": "2021-03-05", "AEENDTC": "2021-03-07",
           "AEOUT": "RECOVERED/RESOLVED", "AEREL_BELIMUMAB": "NOT RELATED",
           "AEREL_PREDNISONE": "UNLIKELY RELATED"}  # fmt: skip
    row.update(over)
    return row


def xlsx(rows: list[dict[str, object]], header: list[str] = HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "AE"
    ws.append(header)
    for r in rows:
        ws.append([r.get(h) for h in header])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows: list[dict[str, str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO(newline="")
    w = csv.writer(out)
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return out.getvalue().encode("utf-8-sig")


def upload(env, data: bytes, filename: str = "ae.xlsx", site_ids=None, **kw):  # type: ignore[no-untyped-def]
    return import_upload(engine=env.engine, actor=ACTOR, study_id=env.study_id,
                         site_ids=site_ids, filename=filename, data=data, **kw)  # fmt: skip


def events(env) -> list[AdverseEvent]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return list(s.exec(select(AdverseEvent).order_by(AdverseEvent.id)))


def ae_audit(env) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.entity_type == "adverse_event")
                           .order_by(AuditEntry.id)))  # fmt: skip


def rewrite_zip(data: bytes, replace: dict[str, bytes | None]) -> bytes:
    """Copy an xlsx, replacing (or, with None, dropping) members and adding new ones."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            if info.filename in replace:
                continue
            z.writestr(info.filename, src.read(info.filename))
        for name, content in replace.items():
            if content is not None:
                z.writestr(name, content)
    return out.getvalue()


# --- template ------------------------------------------------------------------------


def test_template_round_trip(upload_study):
    env = upload_study
    with read_session(env.engine) as s:
        data = template_for_study(s, env.study_id)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames[0] == "AE" and wb.active.title == "AE"
    assert wb["Terms"].sheet_state == "hidden" and wb["Lists"].sheet_state == "hidden"
    assert "README" in wb.sheetnames
    ws = wb["AE"]
    header = [c.value for c in ws[1]]
    assert header == [*HEADER, "AETERM_EN", "AEAWAREDTC", "AEPREEX", "AEITOXGR", "AEWRSDTC",
                      "AEGRPID", "AESPID", "CONFIRM_DUPLICATE"]  # fmt: skip
    # Text-formatted columns, so Excel keeps 0012, 1E5 and 2021-03 as typed.
    assert all(ws.column_dimensions[c.column_letter].number_format == "@" for c in ws[1])
    by_letter = {c.column_letter: c.value for c in ws[1]}
    lists = {by_letter[str(dv.sqref).split(":")[0].rstrip("0123456789")]: dv.formula1
             for dv in ws.data_validations.dataValidation}  # fmt: skip
    assert lists["AEDECOD"].startswith("Terms!$A$2:$A$")
    assert lists["AETOXGR"] == '"1,2,3,4,5"'
    assert lists["AESER"] == '"Y,N"' and lists["AEONGO"] == '"Y,N"'
    assert lists["AEOUT"].startswith("Lists!") and lists["AEREL_BELIMUMAB"].startswith("Lists!")
    assert lists["AEACN_PREDNISONE"].startswith("Lists!")
    terms = [r for r in wb["Terms"].iter_rows(min_row=2, values_only=True)]
    assert len(terms) == 837 and ("Headache", HEADACHE, "Nervous system disorders") in terms

    # Fill it in as a user would (term picked by name in AEDECOD, or code in AELLTCD).
    fill = [
        good(env.subject("0012"), AELLTCD=None, AEDECOD="Headache"),
        good(env.subject("007"), AETERM="short of breath after infusion", AELLTCD=ANAPHYLAXIS,
             AETOXGR="3", AESER="Y", AESHOSP="Y", AEOUT="RECOVERING/RESOLVING", AEENDTC=None,
             AEONGO="Y", NARRATIVE="Admitted overnight for observation.",
             AEACN_BELIMUMAB="DRUG WITHDRAWN", AEAWAREDTC="2021-03-06"),
        good(env.subject("0012"), AETERM="second headache", AESTDTC="2021-04", AEENDTC="2021-05"),
    ]  # fmt: skip
    for r, row in enumerate(fill, start=2):
        for c, name in enumerate(header, start=1):
            if row.get(name) is not None:
                ws.cell(row=r, column=c, value=row[name])
    out = io.BytesIO()
    wb.save(out)
    result = upload(env, out.getvalue())
    assert result.ok, (result.refused, result.errors)
    assert result.stored == 3 and len(result.event_ids) == 3
    stored = events(env)
    assert [e.aeterm for e in stored] == [r["AETERM"] for r in fill]
    first, serious, second = stored
    assert (first.aelltcd, first.aedecod, first.aeseq, first.status) == (
        HEADACHE,
        "Headache",
        1,
        "submitted",
    )
    assert (second.aeseq, second.aestdtc) == (2, "2021-04")
    assert serious.aeser and serious.aeshosp and serious.drug_withdrawn and serious.ongoing
    assert "hypersensitivity" in serious.aesi.split(",")
    assert serious.aerel == {"belimumab": "NOT RELATED", "prednisone": "UNLIKELY RELATED"}
    assert serious.aeacn == {"belimumab": "DRUG WITHDRAWN"}


# --- all or nothing --------------------------------------------------------------------


def test_1000_rows_with_a_bad_row_999_store_nothing(upload_study):
    env = upload_study
    # One onset day per row: the same subject, term and onset would be likely duplicates.
    days = [date(2021, 2, 1) + timedelta(days=i) for i in range(1000)]
    rows = [good(env.subject("0012"), AETERM=f"headache {i}", AESTDTC=str(d),
                 AEENDTC=str(d + timedelta(days=2))) for i, d in enumerate(days)]  # fmt: skip
    # Sheet row 999 (header = row 1): Anaphylaxis has no grade 1.
    rows[997] = good(env.subject("0012"), AELLTCD=ANAPHYLAXIS, AETOXGR="1")
    result = upload(env, xlsx(rows))
    assert not result.ok and result.stored == 0 and result.rows == 1000
    assert [(e.row, e.column, e.value) for e in result.errors] == [(999, "AETOXGR", "1")]
    assert "grade 1 does not exist for Anaphylaxis" in result.errors[0].reason
    assert events(env) == [] and ae_audit(env) == []
    # Fixed, the same file stores all 1,000 rows in one go.
    rows[997] = good(env.subject("0012"), AELLTCD=ANAPHYLAXIS, AETOXGR="3", AESER="Y",
                     AESHOSP="Y", NARRATIVE="hospitalised", AEAWAREDTC="2021-03-06")  # fmt: skip
    result = upload(env, xlsx(rows, [*HEADER, "AEAWAREDTC"]))
    assert result.ok and result.stored == 1000
    stored = events(env)
    assert [e.aeseq for e in stored] == list(range(1, 1001))
    assert len(ae_audit(env)) == 1000


def test_every_problem_is_reported_with_row_column_value_and_reason(upload_study):
    env = upload_study
    rows = [
        good(env.subject("0012")),
        good(env.subject("0012"), AESER="maybe", AETOXGR="two", AEOUT="GONE", AESTDTC="2021-03-06"),
        good("NCT04660565-01-9999"),
        good(env.subject("007"), AESTDTC="2021-13-01", AEREL_BELIMUMAB="SURE"),
        good(env.subject("007"), AEDECOD="Nausea"),  # contradicts AELLTCD (Headache)
        good(env.subject("007"), AELLTCD=None, AEDECOD="Not a term"),
        good(env.subject("007"), AESER="Y", AESTDTC="2021-03-06"),  # no criterion, narrative
    ]
    result = upload(env, csv_bytes(rows), filename="ae.csv")
    got = {(e.row, e.column, e.value) for e in result.errors}
    assert got == {
        (3, "AETOXGR", "two"), (3, "AESER", "maybe"), (3, "AEOUT", "GONE"),
        (4, "USUBJID", "NCT04660565-01-9999"),
        (5, "AESTDTC", "2021-13-01"), (5, "AEREL_BELIMUMAB", "SURE"),
        (6, "AEDECOD", "Nausea"), (7, "AEDECOD", "Not a term"),
        (8, "AESER", "Y"), (8, "NARRATIVE", ""), (8, "AEAWAREDTC", ""),
    }  # fmt: skip
    reasons = {(e.row, e.column): e.reason for e in result.errors}
    assert reasons[(3, "AESER")] == "use Y or N"
    assert reasons[(4, "USUBJID")] == "unknown subject"
    assert "month 13 does not exist" in reasons[(5, "AESTDTC")]
    assert "Headache" in reasons[(6, "AEDECOD")]
    assert reasons[(8, "NARRATIVE")] == "a serious event needs a narrative"
    assert [e.row for e in result.errors] == sorted(e.row for e in result.errors)
    assert events(env) == []


def test_header_problems(upload_study):
    env = upload_study
    header = [*HEADER[:-1], "AEREL_ASPIRIN", "AETOXGRADE", "AETERM"]
    result = upload(env, csv_bytes([good(env.subject("007"))], header=header), filename="a.csv")
    assert {(e.row, e.column) for e in result.errors} == {
        (1, "AEREL_ASPIRIN"),
        (1, "AETOXGRADE"),
        (1, "AETERM"),
    }
    # A value under a blank header cell (or past the header) is not silently dropped.
    row = {**good(env.subject("007")), "": "stray"}
    result = upload(env, csv_bytes([row], header=[*HEADER, ""]), filename="a.csv")
    assert [(e.row, e.column, e.value) for e in result.errors] == [(2, "W", "stray")]
    assert events(env) == []


# --- identifiers and values kept as typed -------------------------------------------------


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_identifiers_and_partial_dates_kept_as_typed(upload_study, kind):
    env = upload_study
    typed = ["007", "0012", "1E5", "NA"]
    rows = [good(env.subject(v), AETERM=v, AECONTRT=v, AESTDTC="2021-03", AEENDTC=None,
                 AEOUT="RECOVERING/RESOLVING") for v in typed]  # fmt: skip
    data = xlsx(rows) if kind == "xlsx" else csv_bytes(rows)
    result = upload(env, data, filename=f"ae.{kind}")
    assert result.ok, result.errors
    with read_session(env.engine) as s:
        pairs = s.exec(select(AdverseEvent, Subject).where(AdverseEvent.subject_id == Subject.id))
        by_subject = {subj.subjid: e for e, subj in pairs}
    assert set(by_subject) == set(typed)  # "0012" matched as text: subject "12" has none
    for v in typed:
        e = by_subject[v]
        assert (e.aeterm, e.aecontrt, e.aestdtc) == (v, v, "2021-03")


def test_numbers_and_dates_stored_by_excel_are_read_as_text(upload_study):
    """Cells Excel holds as numbers or dates (a user typing in a General column)."""
    env = upload_study
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    row = good(env.subject("0012"))
    values: list[object] = [row.get(h) for h in HEADER]
    values[HEADER.index("AELLTCD")] = int(HEADACHE)
    values[HEADER.index("AETOXGR")] = 2.0
    values[HEADER.index("AESTDTC")] = datetime(2021, 3, 5)
    values[HEADER.index("AEENDTC")] = datetime(2021, 3, 7, 14, 30)
    values[HEADER.index("AETERM")] = 1e5  # a number: shown as 100000, the only text it has
    ws.append(values)
    out = io.BytesIO()
    wb.save(out)
    parsed = parse_upload("a.xlsx", out.getvalue(), settings=Settings())
    cells = dict(zip(parsed.header, parsed.rows[0][1], strict=False))
    assert (cells["AELLTCD"], cells["AETOXGR"], cells["AETERM"]) == (HEADACHE, "2", "100000")
    assert (cells["AESTDTC"], cells["AEENDTC"]) == ("2021-03-05", "2021-03-07T14:30")
    result = upload(env, out.getvalue())
    assert result.ok, result.errors
    (e,) = events(env)
    assert (e.aelltcd, e.aetoxgr, e.aestdtc, e.aeendtc) == (HEADACHE, 2, "2021-03-05",
                                                            "2021-03-07T14:30")  # fmt: skip


def test_shared_strings_and_rich_text_are_read(upload_study):
    """Excel writes text as shared strings (some as rich-text runs); openpyxl inline."""
    env = upload_study
    data = xlsx([good(env.subject("0012"))])
    z = zipfile.ZipFile(io.BytesIO(data))
    sheet = z.read("xl/worksheets/sheet1.xml").decode()
    # Turn the AETERM cell into a shared string made of two rich-text runs.
    start = sheet.index('<c r="B2"')
    end = sheet.index("</c>", start) + 4
    sheet = sheet[:start] + '<c r="B2" t="s"><v>0</v></c>' + sheet[end:]
    sst = ('<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
           'uniqueCount="1"><si><r><t>head</t></r><r><rPr><b/></rPr><t xml:space="preserve">'
           'ache &amp; 007 </t></r></si></sst>')  # fmt: skip
    rels = (
        z.read("xl/_rels/workbook.xml.rels")
        .decode()
        .replace(
            "</Relationships>",
            '<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
    )
    data = rewrite_zip(data, {"xl/worksheets/sheet1.xml": sheet.encode(),
                              "xl/sharedStrings.xml": sst.encode(),
                              "xl/_rels/workbook.xml.rels": rels.encode()})  # fmt: skip
    parsed = parse_upload("a.xlsx", data, settings=Settings())
    assert parsed.rows[0][1][1] == "headache & 007 "
    assert upload(env, data).ok
    assert events(env)[0].aeterm == "headache & 007"  # surrounding blanks trimmed, as in the form


# --- hostile files -----------------------------------------------------------------------


def refused(data: bytes, filename: str = "ae.xlsx", settings: Settings | None = None) -> str:
    t = time.perf_counter()
    with pytest.raises(UploadRefused) as info:
        parse_upload(filename, data, settings=settings or Settings())
    assert time.perf_counter() - t < 5
    return str(info.value)


def test_macro_enabled_workbooks_are_refused(upload_study):
    env = upload_study
    data = xlsx([good(env.subject("0012"))])
    assert "macro" in refused(data, "ae.xlsm")
    with_vba = rewrite_zip(data, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 fake VBA project"})
    assert "macros" in refused(with_vba, "ae.xlsx")
    ct = zipfile.ZipFile(io.BytesIO(data)).read("[Content_Types].xml").decode()
    ct = ct.replace("spreadsheetml.sheet.main+xml", "spreadsheetml.sheet.macroEnabled.main+xml")
    assert "macro" in refused(rewrite_zip(data, {"[Content_Types].xml": ct.encode()}))
    xlm = rewrite_zip(data, {"xl/macrosheets/sheet1.xml": b"<xm:macrosheet/>"})
    assert "macro" in refused(xlm)
    result = upload(env, with_vba)
    assert result.refused and "macros" in result.refused and events(env) == []


def test_file_type_is_decided_by_content(upload_study):
    env = upload_study
    data = csv_bytes([good(env.subject("0012"))])
    assert "not an xlsx file" in refused(data, "ae.xlsx")
    assert "not a CSV file" in refused(xlsx([good(env.subject("0012"))]), "ae.csv")
    assert ".xls format" in refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "ae.xls")
    assert "not an xlsx file" in refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert ".xlsx workbook or a .csv" in refused(data, "ae.pdf")
    assert "not UTF-8" in refused("USUBJID;AETERM\nx;caf\xe9\n".encode("latin-1"), "ae.csv")
    big = Settings(upload_max_bytes=1000)
    assert "at most" in refused(b"x" * 1001, "ae.csv", settings=big)


def _bomb(size: int) -> bytes:
    """An xlsx whose sheet XML inflates to `size` bytes (about 1,000:1 compression)."""
    template = xlsx([])
    out = io.BytesIO()
    src = zipfile.ZipFile(io.BytesIO(template))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                z.writestr(info.filename, src.read(info.filename))
        with z.open("xl/worksheets/sheet1.xml", "w") as fh:
            fh.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                     b'main"><sheetData>')  # fmt: skip
            block = b"<row/>" * (1 << 17)
            written = 0
            while written < size:
                fh.write(block)
                written += len(block)
            fh.write(b"</sheetData></worksheet>")
    return out.getvalue()


def test_zip_bomb_refused_by_declared_size():
    settings = Settings(upload_max_unpacked_bytes=4 << 20)
    bomb = _bomb(64 << 20)
    assert len(bomb) < 200_000
    assert "unpacks to" in refused(bomb, settings=settings)


def test_zip_bomb_with_a_lying_header_is_stopped_while_inflating():
    """Declared sizes patched to look small: inflation is counted and stops at the cap."""
    settings = Settings(upload_max_unpacked_bytes=4 << 20)
    bomb = bytearray(_bomb(64 << 20))
    z = zipfile.ZipFile(io.BytesIO(bytes(bomb)))
    info = z.getinfo("xl/worksheets/sheet1.xml")
    lie = (1000).to_bytes(4, "little")
    # Local header: uncompressed size at offset 22; central directory entry: offset 24.
    bomb[info.header_offset + 22 : info.header_offset + 26] = lie
    entry = z.start_dir
    while bomb[entry : entry + 4] == b"PK\x01\x02":
        name_len, extra, comment = (int.from_bytes(bomb[entry + k:entry + k + 2], "little")
                                    for k in (28, 30, 32))  # fmt: skip
        if bomb[entry + 46 : entry + 46 + name_len] == info.filename.encode():
            bomb[entry + 24 : entry + 28] = lie
        entry += 46 + name_len + extra + comment
    assert zipfile.ZipFile(io.BytesIO(bytes(bomb))).getinfo(info.filename).file_size == 1000
    # zipfile stops at the declared size; the CRC then exposes the lie.
    assert "corrupt" in refused(bytes(bomb), settings=settings)


def test_inflated_bytes_are_counted_against_the_cap_while_reading():
    """Defence in depth behind the declared sizes: every part read goes through a counter."""
    from pv.imports.spreadsheet import _Budget, _Guarded

    stream = _Guarded(io.BytesIO(b"<a>" + b" " * (2 << 20)), _Budget(1 << 20), "x.xml")
    with pytest.raises(UploadRefused, match="unpacks to more than 1 MB"):
        while stream.read(1 << 16):
            pass


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
              for i in range(1, 10))
    + ']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    "</sheetData></worksheet>"
)  # fmt: skip


def test_entity_bomb_refused(upload_study):
    env = upload_study
    data = rewrite_zip(xlsx([]), {"xl/worksheets/sheet1.xml": BILLION_LAUGHS.encode()})
    assert "DOCTYPE" in refused(data)
    # In any part the reader parses, e.g. the content types.
    ct = zipfile.ZipFile(io.BytesIO(xlsx([]))).read("[Content_Types].xml").decode()
    ct = ct.replace("<Types", '<!DOCTYPE t [<!ENTITY x "y">]><Types', 1)
    assert "DOCTYPE" in refused(rewrite_zip(xlsx([]), {"[Content_Types].xml": ct.encode()}))
    # Not even when the part is UTF-16, where the bytes "<!DOCTYPE" do not appear.
    utf16 = BILLION_LAUGHS.replace('<?xml version="1.0"?>', '<?xml version="1.0" '
                                   'encoding="UTF-16"?>').encode("utf-16")  # fmt: skip
    assert b"<!DOCTYPE" not in utf16
    data16 = rewrite_zip(xlsx([]), {"xl/worksheets/sheet1.xml": utf16})
    assert "not UTF-8" in refused(data16)
    result = upload(env, data)
    assert result.refused and events(env) == []


def test_too_many_rows_refused(upload_study):
    env = upload_study
    settings = Settings(upload_max_rows=50)
    rows = [good(env.subject("0012")) for _ in range(51)]
    assert "at most 50" in refused(xlsx(rows), settings=settings)  # from its dimension
    assert "more than 50 rows" in refused(csv_bytes(rows), "ae.csv", settings=settings)
    no_dimension = rewrite_zip(xlsx(rows), {"xl/worksheets/sheet1.xml": re.sub(
        rb"<dimension[^>]*/>", b"", zipfile.ZipFile(io.BytesIO(xlsx(rows))).read(
            "xl/worksheets/sheet1.xml"))})  # fmt: skip
    assert "more than 50 rows" in refused(no_dimension, settings=settings)  # counted
    parse_upload("ae.xlsx", xlsx(rows[:50]), settings=settings)  # at the limit: accepted
    # A sheet that declares a million rows is refused before any row is read.
    sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<dimension ref="A1:V1000001"/><sheetData>'
             + '<row r="1"><c r="A1" t="inlineStr"><is><t>USUBJID</t></is></c></row>' * 1
             + "</sheetData></worksheet>")  # fmt: skip
    data = rewrite_zip(xlsx([]), {"xl/worksheets/sheet1.xml": sheet.encode()})
    assert "1,000,000 rows" in refused(data)
    result = upload(env, csv_bytes(rows), filename="ae.csv", settings=settings)
    assert result.refused and events(env) == []


# --- scoping -------------------------------------------------------------------------------


def test_investigator_sees_only_their_sites_subjects(upload_study):
    env = upload_study
    rows = [good(env.subject("0012")), good(env.other_site)]
    result = upload(env, xlsx(rows), site_ids={env.site1_id})
    # Another site's subject looks exactly like one that does not exist.
    unknown = upload(env, xlsx([good(env.subject("0012")), good("NCT04660565-02-7777")]),
                     site_ids={env.site1_id})  # fmt: skip
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (3, "USUBJID", "unknown subject")
    ]
    assert [(e.row, e.column, e.reason) for e in unknown.errors] == [
        (3, "USUBJID", "unknown subject")
    ]
    assert events(env) == []
    ok = upload(env, xlsx([good(env.other_site)]), site_ids={env.site2_id})
    assert ok.ok and [e.site_id for e in events(env)] == [env.site2_id]
    # create_events_bulk enforces the same scope on its own.
    with pytest.raises(BulkValidationFailed) as info, write_session(env.engine) as s:
        create_events_bulk(session=s, actor=ACTOR, study_id=env.study_id, submit=True,
                           site_ids={env.site1_id},
                           rows=[BulkRow(env.other_site, EventInput(aeterm="x"))])  # fmt: skip
    assert [(i.index, i.field, i.message) for i in info.value.errors] == [
        (0, "usubjid", "unknown subject")
    ]


# --- error report --------------------------------------------------------------------------


def test_error_report_csv_is_safe_against_formula_injection():
    errors = [
        RowError(2, "AETERM", '=HYPERLINK("http://x")', "bad"),
        RowError(3, "AETERM", "+1+1", "bad"),
        RowError(4, "AETERM", "-2+3", "bad"),
        RowError(5, "AETERM", "@SUM(A1)", "bad"),
        RowError(6, "AETERM", "\tcmd", "bad"),
        RowError(7, "AETERM", "\rcmd", "=reason"),
        RowError(8, "AETOXGR", "-5", "the grade must be 1 to 5"),
        RowError(9, "USUBJID", "0012", "unknown subject"),
    ]
    data = error_report_csv(errors)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["row", "column", "value", "reason"]
    values = [r[2] for r in rows[1:]]
    assert values[:6] == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tcmd",
                          "'\rcmd"]  # fmt: skip
    assert rows[6][3] == "'=reason"
    assert values[6:] == ["-5", "0012"]  # a negative number stays a number; ids as typed
    assert [r[0] for r in rows[1:]] == [str(e.row) for e in errors]


# --- the bulk write path ---------------------------------------------------------------------


def test_bulk_events_and_audit_match_create_event(upload_study):
    """Same input through create_event and create_events_bulk: same row, same audit shape,
    and audit replay rebuilds each live row; the infusion-window rule uses exposures."""
    env = upload_study
    with write_session(env.engine) as s:
        subj = s.exec(select(Subject).where(Subject.usubjid == env.subject("0012"))).one()
        beli = s.exec(select(Drug).where(Drug.study_id == env.study_id,
                                         Drug.key == "belimumab")).one()  # fmt: skip
        add_exposure(session=s, actor=ACTOR, subject=subj, drug=beli, dose=600, unit="mg",
                     start=datetime(2021, 3, 5, 9, 0))  # fmt: skip
    data = EventInput(aeterm=" rash and wheeze ", aelltcd=ALLERGIC, aetoxgr=2, aeser=False,
                      aestdtc="2021-03-05T18:00", aeendtc="2021-03-06", aeout="RECOVERED/RESOLVED",
                      aerel={"belimumab": "RELATED", "prednisone": "NOT RELATED"},
                      aeacn={"belimumab": "DRUG INTERRUPTED", "prednisone": ""},
                      aecontrt="antihistamine")  # fmt: skip
    with write_session(env.engine) as s:
        subj = s.exec(select(Subject).where(Subject.usubjid == env.subject("0012"))).one()
        single, _ = create_event(session=s, actor=ACTOR, subject=subj, data=data, submit=True)
        single_id = single.id
    with write_session(env.engine) as s:
        (bulk_id,) = create_events_bulk(
            session=s,
            actor=ACTOR,
            study_id=env.study_id,
            rows=[BulkRow(env.subject("0012"), data, confirm_duplicate=True)],  # a duplicate
            submit=True,
        )
    with read_session(env.engine) as s:
        a, b = s.get(AdverseEvent, single_id), s.get(AdverseEvent, bulk_id)
        sa, sb = jsonable(snapshot(a)), jsonable(snapshot(b))
        audit = {int(e.entity_id): e for e in s.exec(select(AuditEntry).where(
            AuditEntry.entity_type == "adverse_event"))}  # fmt: skip
    assert "possible_infusion_reaction" in sb["aesi"].split(",")
    assert sa == {**sb, "aeseq": 1} and sb["aeseq"] == 2
    assert (a.created_by, a.submitted_at is not None) == (b.created_by, b.submitted_at is not None)
    ea, eb = audit[single_id], audit[bulk_id]
    assert (ea.action, ea.entity_type, ea.study_id, ea.site_id, ea.actor, ea.reason) == (
        eb.action,
        eb.entity_type,
        eb.study_id,
        eb.site_id,
        eb.actor,
        eb.reason,
    )
    assert list(ea.changes) == list(eb.changes)
    assert {**ea.changes, "aeseq": None} == {**eb.changes, "aeseq": None}
    for event_id, live in ((single_id, sa), (bulk_id, sb)):
        rebuilt = replay([audit[event_id].changes])
        assert rebuilt == {k: v for k, v in live.items() if v is not None}
        assert set(live) == set(EVENT_FIELDS)


def test_aeseq_continues_and_warnings_do_not_block(upload_study):
    env = upload_study
    with write_session(env.engine) as s:
        subj = s.exec(select(Subject).where(Subject.usubjid == env.subject("1E5"))).one()
        create_event(session=s, actor=ACTOR, subject=subj,
                     data=EventInput(aeterm="draft", aelltcd=HEADACHE))  # fmt: skip
    rows = [good(env.subject("1E5"), AESTDTC="2020-12-20", AEENDTC="2020-12-21"),
            good(env.subject("1E5"))]  # fmt: skip
    seen: list[tuple[int, int]] = []
    result = upload(env, xlsx(rows), progress=lambda d, t: seen.append((d, t)))
    assert result.ok and result.stored == 2
    assert [(w.row, w.column) for w in result.warnings] == [(2, "AESTDTC")]
    assert "before informed consent" in result.warnings[0].reason
    assert [e.aeseq for e in events(env)] == [1, 2, 3]
    assert seen and seen[-1][0] == seen[-1][1] == 6
    assert all(d <= t for d, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_file_with_only_a_header_stores_nothing(upload_study):
    env = upload_study
    result = upload(env, xlsx([]))
    assert not result.ok and result.errors[0].reason == "the file has no data rows"
    with read_session(env.engine) as s:
        assert s.exec(select(func.count()).select_from(AdverseEvent)).one() == 0


def test_future_dates_and_date_order_are_checked(upload_study):
    env = upload_study
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    rows = [good(env.subject("NA"), AESTDTC=tomorrow, AEENDTC=None,
                 AEOUT="RECOVERING/RESOLVING"),
            good(env.subject("NA"), AESTDTC="2021-03", AEENDTC="2021-02-27")]  # fmt: skip
    result = upload(env, csv_bytes(rows), filename="ae.csv")
    assert {(e.row, e.column) for e in result.errors} == {(2, "AESTDTC"), (3, "AEENDTC")}
