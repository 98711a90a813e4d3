"""The DSMB workbook in Chinese: sheet names, headers, footnotes and captions through
gettext, sheet names still valid; the data (Chinese verbatim terms, narratives, arm
labels) reach the cells unchanged."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from pv.demo.generate import build_demo
from pv.events.models import AdverseEvent
from pv.exports.book import INVALID_SHEET_CHARS
from pv.exports.workbook import TABLE_SET, build_dsmb_workbook
from tests.i18n.test_outputs_helpers import MARK, fake_chinese

CUTOFF = date(2021, 12, 31)
TERM = "肺部感染（医院获得性）"
STORY = "患者于第 12 天出现发热，胸部 CT 示右下肺斑片影，予抗感染治疗后好转。"


def _chinese_event(engine: Engine, study: str) -> None:
    """One serious event in scope gets a Chinese verbatim term and narrative."""
    ae = AdverseEvent.__table__
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(ae.c.id)
            .where(ae.c.study_id == study, ae.c.aeser.is_(True), ae.c.status != "draft")
            .where(sa.func.substr(ae.c.aestdtc, 1, 10) <= CUTOFF.isoformat())
            .order_by(ae.c.id)
        ).first()
        assert row is not None
        conn.execute(sa.update(ae).where(ae.c.id == row.id).values(aeterm=TERM, narrative=STORY))


def _cells(ws) -> list[object]:  # type: ignore[no-untyped-def]
    return [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]


def test_chinese_workbook(engine: Engine, monkeypatch, tmp_path) -> None:
    study = build_demo(engine, seed=42).study_id
    _chinese_event(engine, study)
    out = tmp_path / "dsmb-zh.xlsx"
    with fake_chinese(monkeypatch):
        rows = build_dsmb_workbook(
            engine, study_id=study, cutoff=CUTOFF, session="closed", out=out, language="zh-Hans"
        )
    wb = load_workbook(out)
    names = wb.sheetnames
    assert set(rows) <= set(names)
    for name in names:
        assert len(name) <= 31 and not INVALID_SHEET_CHARS.search(name)
    assert names[0] == MARK + "Cover" and names[1] == MARK + "Contents"
    assert names[2 : 2 + len(TABLE_SET)] == list(TABLE_SET)  # table names are codes
    listing = wb[MARK + "All AEs"]
    values = _cells(listing)
    assert str(values[0]).startswith(MARK + "Listing of all adverse events")
    assert MARK + "Verbatim term" in values and MARK + "Serious" in values
    assert TERM in values  # the reported term, as entered
    assert (MARK + "Yes") in values  # the words written into rows are translated
    # coded values by their labels (pv.labels) outside English
    assert MARK + "Recovered/resolved" in values and "RECOVERED/RESOLVED" not in values
    serious = _cells(wb[MARK + "SAEs"])
    assert TERM in serious and STORY in serious  # narratives unchanged (closed session)
    # the conditional format compares with the translated "Yes"
    rules = [r.formula[0] for rng in listing.conditional_formatting for r in rng.rules]
    assert any(f'"{MARK}Yes"' in f for f in rules)
    aet01 = _cells(wb["AET01"])
    assert str(aet01[0]).startswith("AET01: " + MARK + "Overview of adverse events")
    assert MARK + "Safety population (N)" in aet01
    assert any(str(v).startswith(MARK + "Total (N=") for v in aet01)
    cover = _cells(wb[MARK + "Cover"])
    assert MARK + "DSMB safety report" in cover and MARK + "TEAE rule" in cover
    checksum = _cells(wb[names[-1]])  # the definition: on the last sheet (issue 14)
    assert names[-1] == MARK + "Checksum"
    assert any(str(v).startswith(MARK + "The data checksum printed") for v in checksum)
    charts = _cells(wb[MARK + "Charts"])
    assert charts[0] == MARK + "Charts"
    assert any(str(v).startswith(MARK + "AESI incidence") for v in charts)  # captions
    assert len(wb[MARK + "Charts"]._images) >= 3
    footer = wb["AET01"].oddFooter.right.text
    assert footer.startswith(MARK + "Page &P of &N")


def test_english_workbook_is_unchanged_by_default(engine: Engine, tmp_path) -> None:
    study = build_demo(engine, seed=42).study_id
    _chinese_event(engine, study)
    out = tmp_path / "dsmb.xlsx"
    build_dsmb_workbook(engine, study_id=study, cutoff=CUTOFF, session="open", out=out,
                        charts={}, open_listings=True)  # fmt: skip
    wb = load_workbook(out)
    assert wb.sheetnames[:2] == ["Cover", "Contents"] and "All AEs" in wb.sheetnames
    assert wb["AET01"].oddFooter.right.text == "Page &P of &N"
    listed = _cells(wb["All AEs"])
    assert TERM in listed and "RECOVERED/RESOLVED" in listed  # the CDISC codes, as before


def test_the_checksum_definition_msgid_is_the_docstring() -> None:
    """The cover translates the checksum definition only while its msgid is the checksum
    module's docstring; keep them equal when the definition changes."""
    from pv.exports import checksum
    from pv.exports.cover import CHECKSUM_DEFINITION

    assert " ".join((checksum.__doc__ or "").split()) == CHECKSUM_DEFINITION
