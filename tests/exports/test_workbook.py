"""The DSMB workbook read back with openpyxl: structure, cell types, the numbers of the
analysis layer, the events in scope, formula safety, the print layout; test_sessions.py
checks what each session may show."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from openpyxl.workbook import Workbook

from pv.analysis.api import build_tables
from pv.events.models import AdverseEvent
from pv.exports.workbook import TABLE_SET, build_dsmb_workbook, sheet_name
from pv.exports.xlsx_layout import A4_UNITS, LINE_PT
from tests.exports.conftest import (
    BAD_CHAR_TEXT,
    CR_TEXT,
    CUTOFF,
    HEADER_ROW,
    STUDY,
    Demo,
    data_rows,
    headers,
)


def column(ws: Any, name: str, row: int = HEADER_ROW) -> int:
    return headers(ws, row).index(name)


def scope_count(demo: Demo, where: Any = None) -> int:
    """Events in scope, counted independently: not drafts, onset (as recorded) by the cut-off."""
    ae = AdverseEvent
    stmt = sa.select(sa.func.count()).where(
        ae.study_id == STUDY,
        ae.status != "draft",
        sa.func.substr(ae.aestdtc, 1, 10) <= CUTOFF.isoformat(),
    )
    if where is not None:
        stmt = stmt.where(where)
    with demo.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_sheets_are_named_uniquely_within_31_characters(books) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    names = wb.sheetnames
    assert names[:2] == ["Cover", "Contents"]
    assert names[2 : 2 + len(TABLE_SET)] == list(TABLE_SET)
    assert {
        "All AEs",
        "SAEs",
        "Deaths",
        "Exposure",
        "Charts",
        "AESI Infections",
        "AESI Glucocorticoid toxicity",
    } <= set(names)
    assert all(len(n) <= 31 for n in names)
    assert len({n.lower() for n in names}) == len(names)


def test_sheet_name_cleans_truncates_and_deduplicates() -> None:
    taken: set[str] = set()
    assert sheet_name("AESI a/b: c*d?[e]", taken) == "AESI a b  c d  e"
    long = "AESI " + "Glucocorticoid toxicity and more words" * 2
    first, second = sheet_name(long, taken), sheet_name(long, taken)
    assert len(first) == 31 and len(second) <= 31 and first != second and second.endswith("(2)")
    assert sheet_name("'quoted'", taken) == "quoted"


def test_contents_links_every_sheet(books) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    ws = wb["Contents"]
    linked = {}
    for row in ws.iter_rows(min_row=3):
        cell = row[0]
        if cell.value:
            linked[cell.value] = cell.hyperlink.location
    assert set(linked) == set(wb.sheetnames) - {"Cover", "Contents"}
    for name, location in linked.items():
        assert location == f"'{name}'!A1"


def test_cover_carries_study_cutoff_time_session_version_and_checksum(books, demo) -> None:  # type: ignore[no-untyped-def]
    import pv

    _, wb = books["closed"]
    cover = {r[0]: r[1] for r in wb["Cover"].iter_rows(values_only=True) if r and r[0]}
    assert cover["Study"] == STUDY and cover["NCT ID"] == STUDY
    assert "Belimumab" in cover["Title"]
    assert cover["Data cut-off"] == datetime(2021, 12, 31)
    assert isinstance(cover["Generated at (UTC)"], datetime)
    assert cover["Software"] == f"pv-tracker {pv.__version__}"
    assert re.fullmatch(r"[0-9a-f]{64}", cover["Data checksum (SHA-256)"])
    assert cover["Session"] == "Closed session (by arm)"


def test_checksum_is_the_same_for_every_session_and_follows_the_data(books, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def checksum(wb: Workbook) -> str:
        return next(
            r[1]
            for r in wb["Cover"].iter_rows(values_only=True)
            if r[0] == "Data checksum (SHA-256)"
        )

    sums = {checksum(wb) for _, wb in books.values()}
    assert len(sums) == 1
    again = tmp_path / "again.xlsx"
    build_dsmb_workbook(
        demo.engine, study_id=STUDY, cutoff=CUTOFF, session="open", out=again, charts={}
    )
    assert checksum(load_workbook(again)) in sums
    later = tmp_path / "later.xlsx"
    build_dsmb_workbook(
        demo.engine,
        study_id=STUDY,
        cutoff=CUTOFF.replace(year=2022),
        session="open",
        out=later,
        charts={},
    )
    assert checksum(load_workbook(later)) not in sums  # more events in scope


def test_table_sheets_show_the_analysis_numbers_with_the_same_denominators(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    tables = build_tables(demo.engine, STUDY, TABLE_SET, cutoff=CUTOFF)
    for table in tables:
        ws = wb[table.name]
        groups = [v for v in headers(ws, 4) if v]
        for arm in table.arms:
            assert f"{arm.label} (N={arm.N})" in groups
        assert f"Total (N={sum(a.N for a in table.arms)})" in groups
        population = [c.value for c in ws[6]]
        # the table's own population: the safety population, DST01 all randomized subjects
        assert population[0] == f"{table.population} (N)"
        # the N under the first column of each arm (n; AET05_ALL counts events there)
        n_columns = [i for i, v in enumerate(headers(ws, 4)) if v and "(N=" in v]
        assert [population[i] for i in n_columns] == [a.N for a in table.arms] + [
            sum(a.N for a in table.arms)
        ]
    aet01 = next(t for t in tables if t.name == "AET01")
    ws = wb["AET01"]
    row = next(r for r in ws.iter_rows(min_row=7, values_only=True) if r[0] == "Serious TEAE")
    first = aet01.arms[0].label
    assert row[1] == aet01.row("Serious TEAE").cells[first].n
    assert row[2] == pytest.approx(aet01.row("Serious TEAE").cells[first].pct)


def test_listing_rows_are_the_events_in_scope(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    listed = data_rows(wb["All AEs"])
    assert len(listed) == scope_count(demo)
    assert len(data_rows(wb["SAEs"])) == scope_count(demo, AdverseEvent.aeser.is_(True))
    infections = scope_count(demo, AdverseEvent.aesi.like("%infection%"))
    assert len(data_rows(wb["AESI Infections"])) == infections
    verbatim = column(wb["All AEs"], "Verbatim term")
    texts = [r[verbatim] for r in listed]
    assert "after the cut-off" not in texts and "a draft" not in texts
    assert "sniffles, date unsure" in texts
    subject, onset = column(wb["All AEs"], "Subject"), column(wb["All AEs"], "Onset")
    keys = [(r[subject], str(r[onset])) for r in listed]
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)  # sorted by subject (one site)


def test_cells_have_real_types(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    ws = wb["All AEs"]
    cols = {h: i for i, h in enumerate(headers(ws))}
    rows = list(ws.iter_rows(min_row=HEADER_ROW + 1, max_row=HEADER_ROW + 40))
    assert all(r[cols["First dose"]].is_date for r in rows)
    assert all(r[cols["First dose"]].number_format == "yyyy-mm-dd" for r in rows)
    assert all(r[cols["Age"]].data_type == "n" for r in rows)
    grades = [r[cols["CTCAE grade"]].value for r in rows]
    assert all(isinstance(g, int) for g in grades)
    partial = next(
        r
        for r in ws.iter_rows(min_row=HEADER_ROW + 1)
        if r[cols["Verbatim term"]].value == "sniffles, date unsure"
    )
    assert isinstance(partial[cols["Onset"]].value, str) and len(partial[cols["Onset"]].value) == 7
    assert partial[cols["Study day"]].value is None


def test_negative_numbers_stay_numbers(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    ws = wb["All AEs"]
    cols = {h: i for i, h in enumerate(headers(ws))}
    early = next(
        r
        for r in ws.iter_rows(min_row=HEADER_ROW + 1)
        if r[cols["Verbatim term"]].value == "sore throat before the first dose"
    )
    assert early[cols["Study day"]].value == -3 and early[cols["Study day"]].data_type == "n"
    assert early[cols["TEAE"]].value == "No"
    rd = [
        c
        for row in wb["AET02"].iter_rows(min_row=7)
        for c in row
        if isinstance(c.value, float) and c.value < 0
    ]
    assert rd and all(c.data_type == "n" for c in rd)


def test_no_formula_cells_and_trigger_texts_read_back_as_typed(books, demo) -> None:  # type: ignore[no-untyped-def]
    with demo.engine.connect() as conn:
        stored = conn.execute(
            sa.select(AdverseEvent.aeterm, AdverseEvent.aecontrt, AdverseEvent.narrative).where(
                AdverseEvent.id.in_(demo.injected)
            )
        ).all()
    texts = {t for row in stored for t in row if t}
    assert any(t.startswith("=") for t in texts) and CR_TEXT in texts
    for path, wb in books.values():
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/sheet"):
                    assert not re.search(rb"<f[ >]", z.read(name)), name
    _, wb = books["closed"]
    found: dict[str, Any] = {}
    for name in ("All AEs", "SAEs"):
        for row in wb[name].iter_rows(min_row=HEADER_ROW + 1):
            for cell in row:
                if isinstance(cell.value, str):
                    found.setdefault(cell.value, cell)
    for t in texts - {BAD_CHAR_TEXT}:
        assert t in found, repr(t)
        assert found[t].data_type == "s"
        assert found[t].quotePrefix == (t[0] in "=+-@\t\r\n")
    assert "bell\ufffdchar" in found  # a character XML cannot carry, replaced visibly


def test_listing_formatting(books) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    ws = wb["All AEs"]
    assert ws.freeze_panes == f"A{HEADER_ROW + 1}"
    assert ws.auto_filter.ref.startswith(f"A{HEADER_ROW}:")
    assert ws.print_title_rows == f"$1:${HEADER_ROW}"
    # the printed columns fit an A4 landscape page: printed at 100% (test_dsmb_pack)
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.scale) == 100
    for name in TABLE_SET:  # a table wider than the page is fitted to its width
        table = wb[name]
        width = sum(d.width for d in table.column_dimensions.values() if d.width)
        assert table.sheet_properties.pageSetUpPr.fitToPage == (width > A4_UNITS), name
        if width > A4_UNITS:
            assert table.page_setup.fitToWidth == 1
    assert "Page &P of &N" in ws.oddFooter.right.text
    assert "2021-12-31" in ws.oddFooter.left.text
    rules = [r.formula[0] for cf in ws.conditional_formatting for r in cf.rules]
    assert any('="Yes"' in f for f in rules) and any(">=3" in f for f in rules)
    assert ws.page_setup.paperSize == 9  # A4: the listing's printed columns are chosen
    assert wb["AET01"].page_setup.paperSize == 9  # A4
    tall = [r for r, dim in ws.row_dimensions.items() if r > HEADER_ROW and dim.height]
    assert tall and all(ws.row_dimensions[r].height % LINE_PT == 0 for r in tall)  # wrapped
    assert any(str(m).startswith("B4:") for m in wb["AET01"].merged_cells.ranges)  # arm header
    verbatim = headers(ws).index("Verbatim term")
    letter = ws.cell(row=HEADER_ROW, column=verbatim + 1).column_letter
    assert 5 <= ws.column_dimensions[letter].width <= 13
    assert ws.cell(row=HEADER_ROW + 1, column=verbatim + 1).alignment.wrap_text
