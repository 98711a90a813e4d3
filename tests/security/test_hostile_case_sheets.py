"""Hostile SAE case-data sheets (issue 16): the optional sheets SAE_CASE, MEDICAL_HISTORY,
CONMEDS, TESTS and CHALLENGE of an upload are read as the AE sheet is (streamed, bounded),
within limits of their own for all of them together (MAX_CASE_ROWS data rows,
MAX_CASE_CELLS cell elements, MAX_CASE_EVENTS events with case data, cells longer than the
service's longest text refused by their length alone).

Each file is refused with a clear message, or read and checked (or stored) in bounded time
and memory, measured as tests/security/test_hostile_uploads.py does (`measured`: the peak
resident set size during the call minus the size before, so lxml's and zlib's C
allocations count). Through the web route the job runs in a thread of the app (the
`world` fixture), so the memory measured is the server's own.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable
from datetime import date, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import select

from pv.db import read_session
from pv.events.models import AdverseEvent
from pv.icsr.models import SaeCase
from pv.imports.spreadsheet import parse_upload
from pv.imports.spreadsheet.common import MAX_CASE_CELLS, MAX_CASE_EVENTS, MAX_CASE_ROWS
from pv.settings import Settings
from tests.security.test_hostile_uploads import (
    MB,
    MEMORY_LIMIT,
    TIME_LIMIT_S,
    measured,
    read_within_bounds,
)
from tests.web.webhelpers import login, upload_and_wait

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OPEN = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="'
        + NS.encode() + b'"><sheetData>')  # fmt: skip
CLOSE = b"</sheetData></worksheet>"
AE_HEADER = ["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESHOSP", "AESTDTC",
             "AEOUT", "AEREL_BELIMUMAB", "AEREL_PREDNISONE", "NARRATIVE", "AEAWAREDTC"]  # fmt: skip
ANAPHYLAXIS = "10002218"
Built = tuple[str, bytes]


def _cell(text: str) -> str:
    return f'<c t="inlineStr"><is><t>{text}</t></is></c>'


def _row(values: Iterable[str], r: int | None = None) -> str:
    head = f'<row r="{r}">' if r is not None else "<row>"
    return head + "".join(_cell(v) for v in values) + "</row>"


def book(sheets: dict[str, Iterable[bytes]], shared: bytes | None = None) -> bytes:
    """A workbook of the named sheets in order (sheet1 = the first), each the concatenated
    blocks given (inline strings), with an optional shared-strings part."""
    wb = Workbook()
    names = list(sheets)
    wb.active.title = names[0]
    for name in names[1:]:
        wb.create_sheet(name)
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    if shared is not None and "xl/sharedStrings.xml" not in parts:
        rels, ct = "xl/_rels/workbook.xml.rels", "[Content_Types].xml"
        parts[rels] = parts[rels].replace(
            b"</Relationships>",
            (
                b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/'
                b'2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
            ),
        )
        parts[ct] = parts[ct].replace(
            b"</Types>",
            (
                b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
            ),
        )
    if shared is not None:
        parts["xl/sharedStrings.xml"] = shared
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, data in parts.items():
            if name.startswith("xl/worksheets/sheet") and name.endswith(".xml"):
                index = int(name[len("xl/worksheets/sheet") : -4]) - 1
                with z.open(name, "w", force_zip64=True) as fh:
                    for block in sheets[names[index]]:
                        fh.write(block)
            else:
                z.writestr(name, data)
    return out.getvalue()


def ae_sheet(usubjid: str, events: int) -> list[bytes]:
    """`events` valid serious events of one subject, on distinct onset days (AE rows 2..)."""
    start = date(2021, 2, 1)
    rows = []
    for i in range(events):
        day = (start + timedelta(days=i)).isoformat()
        rows.append(_row((usubjid, f"anaphylaxis {i}", ANAPHYLAXIS, "3", "Y", "Y", day,
                          "RECOVERED/RESOLVED", "NOT RELATED", "NOT RELATED",
                          "Admitted for observation.", day)))  # fmt: skip
    return [OPEN + _row(AE_HEADER).encode(), "".join(rows).encode(), CLOSE]


def case_sheet(header: list[str], rows: Iterable[str]) -> Iterable[bytes]:
    yield OPEN + _row(header).encode()
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == 5_000:
            yield "".join(batch).encode()
            batch = []
    yield "".join(batch).encode() + CLOSE


# The builders --------------------------------------------------------------------------


def sparse_far_values(rows: int = MAX_CASE_ROWS) -> Built:
    """SAE_CASE rows each with one value in column XFD: refused, naming the cell."""
    body = (f'<row r="{r}"><c r="XFD{r}" t="inlineStr"><is><t>x</t></is></c></row>'
            for r in range(2, rows + 2))  # fmt: skip
    return "sparse.xlsx", book(
        {"AE": ae_sheet("S-1", 1), "SAE_CASE": case_sheet(["AE_ROW", "REPORTER_NAME"], body)}
    )


def sparse_empty_far_cells(rows: int = MAX_CASE_ROWS) -> Built:
    """CONMEDS rows with a value in A and an empty styled cell in column XFD: read, and no
    row wider than its header."""
    body = (f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{r}</t></is></c>'
            f'<c r="XFD{r}" s="1"/></row>' for r in range(2, rows + 2))  # fmt: skip
    return "sparse-empty.xlsx", book(
        {"AE": ae_sheet("S-1", 1), "CONMEDS": case_sheet(["AE_ROW", "NAME"], body)}
    )


def many_empty_cells() -> Built:
    """CONMEDS: 20,000 rows of a value and 50 empty cell elements each (1.02 million cells):
    refused at the cell limit of the case-data sheets."""
    body = ("<row>" + _cell("x") + "<c/>" * 50 + "</row>" for _ in range(MAX_CASE_ROWS))
    return "empty-cells.xlsx", book(
        {"AE": ae_sheet("S-1", 1), "CONMEDS": case_sheet(["AE_ROW", "NAME"], body)}
    )


def declared_million_rows() -> Built:
    """SAE_CASE declaring 1,048,576 rows in its dimension: refused before any row is read."""
    head = OPEN.replace(b"<sheetData>", b'<dimension ref="A1:C1048576"/><sheetData>')
    return "declared.xlsx", book({"AE": ae_sheet("S-1", 1), "SAE_CASE": [head, CLOSE]})


def too_many_rows() -> Built:
    """MEDICAL_HISTORY and TESTS with MAX_CASE_ROWS + 1 rows together: refused."""
    half = MAX_CASE_ROWS // 2
    mh = case_sheet(["AE_ROW", "TERM"], (_row(("2", "asthma")) for _ in range(half)))
    tests = case_sheet(["AE_ROW", "NAME"], (_row(("2", "ALT")) for _ in range(half + 1)))
    return "rows.xlsx", book({"AE": ae_sheet("S-1", 1), "MEDICAL_HISTORY": mh, "TESTS": tests})


def huge_shared_strings(usubjid: str, events: int = MAX_CASE_EVENTS,
                        size: int = 8 * MB) -> Built:  # fmt: skip
    """`events` serious events; SAE_CASE and CONMEDS rows (MAX_CASE_ROWS in all) each naming
    one shared string of `size` characters: each such cell is refused by its length, and
    the text is never copied per row."""
    sst = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="' + NS.encode()
           + b'" count="1" uniqueCount="1"><si><t>' + b"x" * size + b"</t></si></sst>")  # fmt: skip
    big = '<c t="s"><v>0</v></c>'
    sae = (f"<row>{_cell(str(i + 2))}{big}</row>" for i in range(events))
    per = (MAX_CASE_ROWS - events) // events
    meds = (f"<row>{_cell(str(i // per + 2))}{big}{_cell('1')}{_cell('mg')}</row>"
            for i in range(per * events))  # fmt: skip
    return "huge-shared.xlsx", book({
        "AE": ae_sheet(usubjid, events),
        "SAE_CASE": case_sheet(["AE_ROW", "REPORTER_NAME"], sae),
        "CONMEDS": case_sheet(["AE_ROW", "NAME", "DOSE", "UNIT"], meds),
    }, shared=sst)  # fmt: skip


def many_valid_rows(usubjid: str, events: int = MAX_CASE_EVENTS) -> Built:
    """`events` serious events, each with a SAE_CASE row and as many CONMEDS, TESTS and
    CHALLENGE rows as MAX_CASE_ROWS allows in all: everything valid, stored."""
    per = (MAX_CASE_ROWS - 2 * events) // (2 * events)  # conmeds and tests of each event
    sae = (_row((str(i + 2), "张伟 医生", "1", "CN")) for i in range(events))
    meds = (_row((str(i // per + 2), f"药物 {i % per}", "200", "mg", "口服"))
            for i in range(per * events))  # fmt: skip
    tests = (_row((str(i // per + 2), f"检查 {i % per}", "2021-03-01", "85", "g/L"))
             for i in range(per * events))  # fmt: skip
    challenge = (_row((str(i + 2), "belimumab", "yes", "na")) for i in range(events))
    return "many-valid.xlsx", book({
        "AE": ae_sheet(usubjid, events),
        "SAE_CASE": case_sheet(["AE_ROW", "REPORTER_NAME", "REPORTER_QUALIFICATION",
                                "REPORTER_COUNTRY"], sae),
        "CONMEDS": case_sheet(["AE_ROW", "NAME", "DOSE", "UNIT", "ROUTE"], meds),
        "TESTS": case_sheet(["AE_ROW", "NAME", "DATE", "VALUE", "UNIT"], tests),
        "CHALLENGE": case_sheet(["AE_ROW", "DRUG", "DECHALLENGE", "RECHALLENGE"], challenge),
    })  # fmt: skip


# The reader on its own ------------------------------------------------------------------

READER_CASES: dict[str, tuple[Callable[[], Built], tuple[str, ...] | None]] = {
    "sparse far values": (sparse_far_values, ("SAE_CASE!XFD2", "beyond column J")),
    "sparse empty far cells": (sparse_empty_far_cells, None),
    "1.02 million empty cells": (many_empty_cells, ("CONMEDS:", "1,000,000 cells together")),
    "declared 1,048,576 rows": (declared_million_rows, ("SAE_CASE:", "20,000 rows together")),
    "20,001 rows on two sheets": (too_many_rows, ("TESTS:", "20,000 rows together",
                                                  "stopped at row 10,002")),
    "huge shared strings": (lambda: huge_shared_strings("S-1"), None),
}  # fmt: skip


@pytest.fixture(scope="module")
def built() -> dict[str, Built]:
    return {label: build() for label, (build, _) in READER_CASES.items()}


@pytest.mark.parametrize("label", list(READER_CASES))
def test_the_reader_refuses_or_reads_a_hostile_case_sheet_in_bounded_time_and_memory(built, label):
    name, data = built[label]
    read_within_bounds(label, name, data, READER_CASES[label][1],
                       lambda out: f"{len(out.case_sheets)} case sheets")  # fmt: skip


def test_empty_far_cells_cost_nothing_and_rows_stay_as_wide_as_their_header(built):
    parsed = parse_upload(*built["sparse empty far cells"], settings=Settings())
    sheet = parsed.case_sheets["CONMEDS"]
    assert len(sheet.rows) == MAX_CASE_ROWS
    assert {len(values) for _, values in sheet.rows} == {2}
    assert sheet.rows[-1] == (MAX_CASE_ROWS + 1, [str(MAX_CASE_ROWS + 1), None])


def test_a_huge_shared_string_is_one_object_however_many_cells_name_it(built):
    parsed = parse_upload(*built["huge shared strings"], settings=Settings())
    names = [v[1] for _, v in parsed.case_sheets["CONMEDS"].rows]
    assert len(names) == MAX_CASE_ROWS - MAX_CASE_EVENTS and len(names[0]) == 8 * MB
    assert len({id(n) for n in names}) == 1  # shared, never copied per cell


def test_the_limits_are_those_documented():
    assert (MAX_CASE_ROWS, MAX_CASE_CELLS, MAX_CASE_EVENTS) == (20_000, 1_000_000, 1_000)


# Through the web upload (a job in a thread of the app) -------------------------------------


def _counts(env) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return (s.exec(select(func.count()).select_from(AdverseEvent)).one(),
                s.exec(select(func.count()).select_from(SaeCase)).one())  # fmt: skip


ROUTE_CASES = ("sparse far values", "1.02 million empty cells", "declared 1,048,576 rows",
               "20,001 rows on two sheets")  # fmt: skip


@pytest.mark.parametrize("label", ROUTE_CASES)
def test_a_hostile_case_sheet_is_refused_through_the_web_route(world, built, label):
    name, data = built[label]
    client, csrf = login(world.app, "inv1")
    before = _counts(world)
    (reply, state, _), elapsed, extra = measured(
        lambda: upload_and_wait(client, csrf, world.study_id, name, data)
    )
    print(f"\n{label}: {elapsed:.2f} s, +{extra / MB:.0f} MB")
    assert state is not None and state["status"] == "refused", reply.text[:500]
    words = READER_CASES[label][1] or ()
    assert all(w.lower() in state["refused"].lower() for w in words), state["refused"]
    assert elapsed < TIME_LIMIT_S and extra < MEMORY_LIMIT
    assert _counts(world) == before


def test_huge_shared_strings_in_20000_case_rows_are_refused_cell_by_cell(world):
    """1,000 serious events; 20,000 case rows each naming one 8 MB shared string: each such
    cell is one error (its first 100 characters shown), found by its length alone; the
    report is small; nothing stored."""
    name, data = huge_shared_strings(world.ids["own"][2])
    client, csrf = login(world.app, "inv1")
    before = _counts(world)
    (reply, state, _), elapsed, extra = measured(
        lambda: upload_and_wait(client, csrf, world.study_id, name, data, timeout=120)
    )
    print(f"\nhuge shared strings: {len(data) / MB:.2f} MB file, {elapsed:.2f} s, "
          f"+{extra / MB:.0f} MB")  # fmt: skip
    assert state is not None and state["status"] == "rejected", reply.text[:500]
    assert state["error_count"] == MAX_CASE_ROWS
    shown = state["errors"]
    assert {(e["column"], e["reason"], e["value"]) for e in shown} <= {
        ("SAE_CASE!REPORTER_NAME", "at most 2000 characters", "x" * 100 + "…"),
        ("CONMEDS!NAME", "at most 2000 characters", "x" * 100 + "…"),
    }
    assert shown[0]["row"] == 2 and shown[0]["column"] == "SAE_CASE!REPORTER_NAME"
    report = client.get(state["report"])
    assert report.status_code == 200 and len(report.content) < 10 * MB
    assert elapsed < TIME_LIMIT_S * 3  # 1,000 events checked and 20,000 cells on a shared CPU
    assert extra < MEMORY_LIMIT
    assert _counts(world) == before


def test_20000_valid_case_rows_of_1000_events_are_stored_in_bounded_memory(world):
    """The largest case data an upload may hold (MAX_CASE_EVENTS events, MAX_CASE_ROWS rows):
    stored whole, each event's case as typed."""
    from pv.icsr.casedata import case_data_dict

    name, data = many_valid_rows(world.ids["own"][2])
    client, csrf = login(world.app, "inv1")
    before = _counts(world)
    (reply, state, _), elapsed, extra = measured(
        lambda: upload_and_wait(client, csrf, world.study_id, name, data, timeout=300)
    )
    print(f"\n20,000 valid case rows: {len(data) / MB:.2f} MB file, {elapsed:.2f} s, "
          f"+{extra / MB:.0f} MB")  # fmt: skip
    assert state is not None and state["status"] == "stored", (state or {}).get("errors")
    assert _counts(world) == (before[0] + MAX_CASE_EVENTS, before[1] + MAX_CASE_EVENTS)
    per = (MAX_CASE_ROWS - 2 * MAX_CASE_EVENTS) // (2 * MAX_CASE_EVENTS)  # 9
    with read_session(world.engine) as s:
        last = s.exec(select(SaeCase).order_by(SaeCase.id.desc())).first()  # type: ignore[union-attr]
        case = case_data_dict(last)
    assert (case["reporter_name"], case["reporter_country"]) == ("张伟 医生", "CN")
    assert [m["name"] for m in case["conmeds"]] == [f"药物 {i}" for i in range(per)]
    assert case["tests"][0] == {"name": "检查 0", "date": "2021-03-01", "value": "85",
                                "unit": "g/L", "low": None, "high": None}  # fmt: skip
    assert (case["dechallenge"], case["rechallenge"]) == ({"belimumab": "yes"},
                                                          {"belimumab": "na"})  # fmt: skip
    assert extra < MEMORY_LIMIT
    # One audited save per event through the case-data service (and the 24 h clock of each
    # serious event): ~10-20 ms an event on a shared test machine.
    assert elapsed < 120
