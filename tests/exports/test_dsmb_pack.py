"""The DSMB pack of issue 14 (point 7), read back with openpyxl: the new sheets and their
numbers (the Table objects'), the "nominal, unadjusted" mark on every comparative
p-value, zeros printed "0", footnotes as merged text rows, the print set-up of every
sheet (A4 landscape; listings at 100%, 8 pt, within the page width), captions true to
the session, the subject-level deaths listing and the checksum definition on the last
sheet. scripts/dsmb_pdf.py renders the same workbooks to PDF pages for a person to see."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl.utils import column_index_from_string, range_boundaries

from pv.analysis.api import build_tables
from pv.events.models import AdverseEvent
from pv.exports.styles import FONT, MIN_PRINTED_PT
from pv.exports.table_sheets import NOMINAL, P_HEADER
from pv.exports.workbook import TABLE_SET
from pv.exports.xlsx_layout import A4_UNITS, LINE_PT, lines
from pv.study.models import Subject
from tests.exports.conftest import CUTOFF, HEADER_ROW, STUDY, data_rows, headers

NEW_TABLES = ("DST01", "DMT01", "EXT01", "AET05_ALL")
LISTING_TITLES = ("All AEs", "SAEs", "Deaths", "Exposure", "AESI Infections")
FIRST_TABLE_ROW = 7  # title, subtitle, blank, group header, header, safety population


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    return list(ws.iter_rows(values_only=True))


def _footnote_rows(ws: Any) -> dict[str, int]:
    """Text rows under the table (after the empty row that ends it): text -> row number."""
    out: dict[str, int] = {}
    ended = False
    for row in ws.iter_rows(min_row=FIRST_TABLE_ROW):
        if all(c.value is None for c in row):
            ended = True
        elif ended and isinstance(row[0].value, str):
            out[row[0].value] = row[0].row
    return out


def test_the_pack_has_its_sheets_in_order_and_the_checksum_last(books) -> None:  # type: ignore[no-untyped-def]
    for name, (_path, wb) in books.items():
        names = wb.sheetnames
        assert names[-1] == "Checksum", name
        assert names[-2] == "Charts", name
        for table in NEW_TABLES:
            assert table in names, (name, table)
        assert names[2 : 2 + len(TABLE_SET)] == list(TABLE_SET)
        assert ("SAE narratives" in names) == (name != "open")  # narratives: closed only
        assert "Deaths" in names  # the open book of the fixture lists patients


def test_the_checksum_definition_is_on_the_last_sheet(books) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    cover = {r[0]: r[1] for r in _rows(wb["Cover"]) if r and r[0]}
    last = {r[0]: r[1] for r in _rows(wb["Checksum"]) if r and r[0]}
    assert cover["Checksum definition"] == "On the last sheet, 'Checksum'."
    assert last["Checksum definition"].startswith("The data checksum printed on the DSMB")
    assert last["Data checksum (SHA-256)"] == cover["Data checksum (SHA-256)"]
    # the cover is one printed page again: no paragraph of the definition on it
    assert not any(str(v).startswith("The data checksum") for v in cover.values())


def test_every_comparative_p_value_is_marked_nominal(books) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    marked = 0
    for name in TABLE_SET:
        ws = wb[name]
        sub = headers(ws, 5)
        notes = _footnote_rows(ws)
        if P_HEADER in sub:
            marked += 1
            assert NOMINAL in notes, name
            assert "nominal, unadjusted for multiplicity" in NOMINAL
            # the mark comes first, right under the table
            assert notes[NOMINAL] == min(notes.values()), name
        assert "p-value" not in sub, name  # never an unmarked p-value column
    assert marked >= 5  # AET01, AET01_AESI, AET02, AET02_SAE, AET04, AET05...
    _, opened = books["open"]
    for name in TABLE_SET:  # pooled: nothing compared, nothing to mark
        assert P_HEADER not in headers(opened[name], 5)
        assert NOMINAL not in _footnote_rows(opened[name])


def _shown(value: Any, number_format: str) -> str:
    """The text Excel shows for a number under a format "pos;neg;zero" (the sections
    rule of the ECMA-376 number formats), for the formats the tables use."""
    sections = number_format.split(";")
    if value == 0 and len(sections) >= 3:
        return sections[2]
    decimals = len(sections[0].split(".")[1]) if "." in sections[0] else 0
    return f"{value:.{decimals}f}"


def test_zero_cells_print_0(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    ws = wb["AET01"]
    table = build_tables(demo.engine, STUDY, ["AET01"], cutoff=CUTOFF)[0]
    sub = headers(ws, 5)
    first_arm = table.arms[0].label
    # a row of AET01 where the first arm has no subject (found in the Table object)
    zero = next(r for r in table.rows if r.cells[first_arm].n == 0)
    row = next(r for r in ws.iter_rows(min_row=FIRST_TABLE_ROW) if r[0].value == zero.label)
    n_cell, pct_cell, events_cell = row[1], row[2], row[3]
    assert sub[1:4] == ["n", "%", "Events"]
    assert n_cell.value == 0 and _shown(n_cell.value, n_cell.number_format) == "0"
    assert pct_cell.value == 0 and _shown(pct_cell.value, pct_cell.number_format) == "0"
    assert _shown(events_cell.value, events_cell.number_format) == "0"
    # a non-zero percentage keeps its decimal
    some = next(r for r in table.rows if r.cells[first_arm].n)
    cell = next(r for r in ws.iter_rows(min_row=FIRST_TABLE_ROW) if r[0].value == some.label)[2]
    assert _shown(cell.value, cell.number_format) == f"{some.cells[first_arm].pct:.1f}"


def test_footnotes_are_merged_wrapped_rows_sized_to_their_text(books) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    ws = wb["AET01"]
    last_column = ws.max_column
    width = sum(
        ws.column_dimensions[ws.cell(row=5, column=c).column_letter].width
        for c in range(1, last_column + 1)
    )
    merged = {str(m).split(":")[0]: m for m in ws.merged_cells.ranges}
    notes = _footnote_rows(ws)
    assert len(notes) >= 3
    for text, row in notes.items():
        cell = ws.cell(row=row, column=1)
        rng = merged[f"A{row}"]  # one cell across the table's columns
        min_col, min_row, max_col, max_row = range_boundaries(str(rng))
        assert (min_col, max_col, min_row, max_row) == (1, last_column, row, row)
        assert cell.alignment.wrap_text and cell.alignment.vertical == "top"
        assert cell.border.top.style is None and cell.border.bottom.style is None
        expected = lines(text, width)
        height = ws.row_dimensions[row].height
        if expected > 1:
            assert height == expected * LINE_PT, text
        else:
            assert not height or height == LINE_PT
    assert not ws.print_options.gridLines  # tables print without a cell grid


def test_every_sheet_prints_on_a4_landscape_with_header_and_footer(books) -> None:  # type: ignore[no-untyped-def]
    for name, (_path, wb) in books.items():
        session = "Open session" if name == "open" else "Closed session"
        for ws in wb.worksheets:
            where = (name, ws.title)
            assert ws.page_setup.paperSize == 9, where  # A4
            assert ws.page_setup.orientation == "landscape", where
            if ws.sheet_properties.pageSetUpPr.fitToPage:
                assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0, where
            else:  # fits the page width as it is: printed at 100%
                assert int(ws.page_setup.scale) == 100, where
            assert STUDY in ws.oddHeader.left.text and session in ws.oddHeader.left.text
            assert ws.oddHeader.right.text == "&A"  # the sheet's name
            assert ws.oddFooter.left.text == f"Data cut-off {CUTOFF.isoformat()}"
            assert ws.oddFooter.right.text == "Page &P of &N"


def _printed_width(ws: Any) -> tuple[float, int]:
    """The width (units) of the printed columns and how many there are."""
    area = ws.print_area  # set when some columns are on screen only
    if area:
        ref = area[0] if isinstance(area, list) else area
        last = ref.split("!")[-1].split(":")[1].lstrip("$")
        count = column_index_from_string("".join(c for c in last if c.isalpha()))
    else:
        count = len([h for h in headers(ws) if h is not None])
    letters = [ws.cell(row=1, column=c).column_letter for c in range(1, count + 1)]
    return sum(ws.column_dimensions[x].width for x in letters), count


@pytest.mark.parametrize("session", ["closed", "masked", "open"])
def test_listings_print_within_an_a4_page_at_8_pt(books, session) -> None:  # type: ignore[no-untyped-def]
    _, wb = books[session]
    assert wb._fonts[0].name == FONT and wb._fonts[0].sz == MIN_PRINTED_PT  # the default
    sheets = [*LISTING_TITLES, *(["SAE narratives"] if session != "open" else [])]
    for title in sheets:
        ws = wb[title]
        width, count = _printed_width(ws)
        assert width <= A4_UNITS, (title, width)
        # fitting the page as they are, listings print at 100%: 8 pt stays 8 pt
        assert not ws.sheet_properties.pageSetUpPr.fitToPage
        assert int(ws.page_setup.scale) == 100
        assert ws.print_title_rows == f"$1:${HEADER_ROW}"
        head = headers(ws)
        assert "Subject" in head[:count] and "Site" in head[:count]
        for row in ws.iter_rows(max_row=min(ws.max_row, 300)):
            for cell in row:
                if cell.value is not None:
                    assert cell.font.sz >= MIN_PRINTED_PT, (title, cell.coordinate)
                    assert cell.font.name == FONT
    ae = wb["All AEs"]
    _, count = _printed_width(ae)
    printed = headers(ae)[:count]
    # what a DSMB reads on paper; the rest stays on screen, after the printed columns
    for needed in ("Verbatim term", "Coded term", "Onset", "Study day", "CTCAE grade",
                   "Serious", "Outcome", "TEAE"):  # fmt: skip
        assert needed in printed, needed
    for screen in ("System organ class", "Treatment given", "AESI", "Signatures"):
        assert screen in headers(ae)[count:], screen
    assert ("Arm" in printed) == (session != "open")
    verbatim = headers(ae).index("Verbatim term") + 1
    assert ae.cell(row=HEADER_ROW + 1, column=verbatim).alignment.wrap_text


def test_chart_captions_are_true_to_the_session(books) -> None:  # type: ignore[no-untyped-def]
    def captions(wb: Any) -> list[str]:
        texts = [r[0] for r in _rows(wb["Charts"]) if r and isinstance(r[0], str)][1:]
        return [t for t in texts if not t.startswith("Chart '")]  # notes of charts left out

    opened = captions(books["open"][1])
    closed = captions(books["closed"][1])
    assert "AESI incidence, all arms pooled" in opened
    assert "Kaplan-Meier time to first infection, all arms pooled" in opened
    assert not [c for c in opened if "by arm" in c]
    assert "AESI incidence by arm with risk-difference forest plot" in closed


def _deaths_expected(demo: Any) -> set[str]:
    """Independently: subjects with the DM death flag and a death date on or before the
    cut-off (or none), and subjects with an event in scope that is fatal as DTHT01 and the
    footnote define it (outcome FATAL, "results in death", or grade 5)."""
    limit = CUTOFF.isoformat()
    with demo.engine.connect() as conn:
        dm = conn.execute(
            sa.select(Subject.usubjid, Subject.death_date).where(
                Subject.study_id == STUDY, Subject.died.is_(True)
            )
        ).all()
        fatal = conn.execute(
            sa.select(Subject.usubjid)
            .join(AdverseEvent, AdverseEvent.subject_id == Subject.id)
            .where(
                AdverseEvent.study_id == STUDY,
                AdverseEvent.status != "draft",
                sa.func.substr(AdverseEvent.aestdtc, 1, 10) <= limit,
                sa.or_(
                    AdverseEvent.aeout == "FATAL",
                    AdverseEvent.aesdth.is_(True),
                    AdverseEvent.aetoxgr == 5,
                ),
            )
        ).all()
    out = {u for u, d in dm if not d or str(d) <= limit[: len(str(d))]}
    return out | {u for (u,) in fatal}


def test_deaths_listing_has_one_row_per_subject_who_died(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    ws = wb["Deaths"]
    head = headers(ws)
    rows = data_rows(ws)
    expected = _deaths_expected(demo)
    assert expected  # the demo has a death
    assert sorted(r[head.index("Subject")] for r in rows) == sorted(expected)
    for r in rows:
        death, last = r[head.index("Date of death")], r[head.index("Last dose")]
        if isinstance(death, date) and isinstance(last, date):
            assert r[head.index("Days after last dose")] == (death - last).days
        assert r[head.index("Fatal adverse events")] or r[head.index("Primary cause of death")]
    assert "Narrative" in head and "Arm" in head
    opened = headers(books["open"][1]["Deaths"])
    assert "Narrative" not in opened and "Arm" not in opened


def _sheet_rows(ws: Any) -> list[tuple[Any, ...]]:
    out = []
    for row in ws.iter_rows(min_row=FIRST_TABLE_ROW, values_only=True):
        if all(v is None for v in row):
            break
        out.append(row)
    return out


@pytest.mark.parametrize("name", NEW_TABLES)
def test_new_table_sheets_show_the_table_numbers(books, demo, name) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    ws = wb[name]
    table = build_tables(demo.engine, STUDY, [name], cutoff=CUTOFF)[0]
    rows = _sheet_rows(ws)
    assert [r[0] for r in rows] == [r.label for r in table.rows]
    sub = headers(ws, 5)
    groups = [v for v in headers(ws, 4)]
    starts = [i for i, v in enumerate(groups) if v]
    keys = [a.label for a in table.arms] + ["Total"]
    checked = 0
    for sheet_row, row in zip(rows, table.rows, strict=True):
        stat = getattr(row, "stat", None)
        for key, start in zip(keys, starts, strict=False):
            cell = row.cells.get(key)
            if cell is None:
                continue
            got = sheet_row[start : start + 3]
            if name == "AET05_ALL":
                assert sub[start] == "Events"
                assert got[0] == cell.events
                assert got[1] == pytest.approx(cell.pyears)
                assert got[2] == pytest.approx(cell.rate)
            elif stat is None:  # a count: n and % of the column's N
                assert got[0] == cell.n
                assert got[1] == (None if cell.pct is None else pytest.approx(cell.pct))
            elif stat == "n":
                assert got[0] == cell.n
            else:  # mean (SD), median, Q1 - Q3, min - max: the statistic's values
                value, value2 = getattr(cell, "value", None), getattr(cell, "value2", None)
                assert got[0] is None
                assert got[1] == (None if value is None or not cell.n else pytest.approx(value))
                if stat in ("mean_sd", "q1_q3", "min_max"):
                    expect2 = None if value2 is None or not cell.n else pytest.approx(value2)
                    assert got[2] == expect2
            checked += 1
    assert checked >= len(table.rows)


def test_aet05_shows_the_rate_ratio_its_ci_its_p_and_labelled_bounds(books, demo) -> None:  # type: ignore[no-untyped-def]
    _, wb = books["closed"]
    table = build_tables(demo.engine, STUDY, ["AET05"], cutoff=CUTOFF)[0]
    ws = wb["AET05"]
    sub, groups = headers(ws, 5), headers(ws, 4)
    compared = next(a.label for a in table.arms if a.label != table.control)
    start = next(i for i, v in enumerate(groups) if v and " vs " in str(v))
    assert sub[start : start + 3] == ["IRR", "95% CI lower", "95% CI upper"]
    assert sub[-1] == P_HEADER
    rows = _sheet_rows(ws)
    bounds = 0
    for sheet_row, row in zip(rows, table.rows, strict=True):
        cell = row.cells.get(compared)
        if cell is None:
            continue
        assert sheet_row[start] == (None if cell.irr is None else pytest.approx(cell.irr))
        for offset, attr in ((1, "irr_low"), (2, "irr_high")):
            value = getattr(cell, attr)
            assert sheet_row[start + offset] == (None if value is None else pytest.approx(value))
        assert sheet_row[-1] == (None if cell.p_value is None else pytest.approx(cell.p_value))
        side = getattr(cell, "irr_bound_side", None)
        if side is not None:
            bounds += 1
            assert sub[start + 3] == "One-sided bound"
            assert sheet_row[start + 3] == f"97.5% {side}"  # level 1 - 0.05 / 2
    if "One-sided bound" in sub:  # the demo has AESI groupings with no event in one arm
        assert bounds > 0


def test_wrapped_lines_break_chinese_between_characters() -> None:
    # Bold Arial: I 50, R 130 hundredths of a digit (xlsx_layout._BOLD); a wide character
    # 180; room (7 - 0.5) * 100 = 650. "发生率" 540 (+ "比" 720 > 650), then "比（" 360
    # (+ "IRR" 670 > 650), then "IRR）" 490: three lines. Latin text breaks only at spaces.
    assert lines("发生率比（IRR）", 7, bold=True) == 3
    assert lines("Rate ratio", 7, bold=True) == 2


def test_dst01_sheet_names_its_own_population(books) -> None:  # type: ignore[no-untyped-def]
    """DST01 counts all randomized subjects, not the safety population: its subtitle and
    its N row say so; the AE tables keep the safety population."""
    _, wb = books["closed"]
    texts = {
        name: [str(c) for row in _rows(wb[name])[:FIRST_TABLE_ROW] for c in row if c]
        for name in ("DST01", "AET01")
    }
    assert any("All randomized subjects." in c for c in texts["DST01"])
    assert "All randomized subjects (N)" in texts["DST01"]
    assert not any("Safety population" in c for c in texts["DST01"])
    assert any("Safety population." in c for c in texts["AET01"])
    assert "Safety population (N)" in texts["AET01"]
