"""Safety tables in a chosen language: texts through gettext, data and numbers untouched,
English unchanged by default; the CSV download starts with a byte-order mark."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlalchemy.engine import Engine

from pv import i18n
from pv.analysis import aet01, aet02, aet04
from pv.analysis.api import TABLE_NAMES, TableError, build_table, build_tables
from pv.analysis.render import BOM, display, to_csv, to_json, to_text
from pv.analysis.table import TOTAL
from tests.analysis.conftest import build_fixture_study
from tests.i18n.test_outputs_helpers import MARK, fake_chinese, marked

CUTOFF = date(2024, 6, 1)


@pytest.fixture
def fixture_engine(engine: Engine) -> Engine:
    build_fixture_study(engine)
    return engine


def _numbers(table) -> list:  # type: ignore[no-untyped-def]
    """Row kinds, grades and every count and statistic (NaN as None), by column."""

    def clean(v: float | None) -> float | None:
        return None if v is None or v != v else v

    return [
        (r.row_type, r.grade, r.indent,
         {k: (c.n, c.N, c.events, clean(c.rd), clean(c.p_value), clean(c.rate))
          for k, c in r.cells.items()})
        for r in table.rows
    ]  # fmt: skip


def test_chinese_tables_translate_texts_not_data(fixture_engine: Engine, monkeypatch) -> None:
    english = build_tables(fixture_engine, "FIX", TABLE_NAMES, cutoff=CUTOFF)
    with fake_chinese(monkeypatch):
        chinese = build_tables(
            fixture_engine, "FIX", TABLE_NAMES, cutoff=CUTOFF, language="zh-Hans"
        )
        with i18n.use("zh-Hans"):
            expected_title = i18n.gettext(aet01.TITLE)
            any_teae = i18n.gettext("Any TEAE")
        for en, zh in zip(english, chinese, strict=True):
            assert zh.language == "zh-Hans" and en.language == "en"
            assert marked(zh.title) and not marked(en.title)
            assert marked(zh.population)
            assert zh.footnotes and all(marked(f) for f in zh.footnotes)
            # the same numbers, rows and arms: only the words differ
            assert _numbers(zh) == _numbers(en)
            assert [a.label for a in zh.arms] == [a.label for a in en.arms]
            for r_en, r_zh in zip(en.rows, zh.rows, strict=True):
                # AET01_AESI's categories and the descriptive tables' statistics and
                # levels are the program's words, not terminology
                words = ("AET01_AESI", "DMT01", "EXT01", "DST01")
                if r_en.row_type == "term" and r_en.soc and zh.name not in words:
                    # a preferred term is terminology: never translated
                    assert r_zh.term == r_en.term and not marked(r_zh.term)
                soc_row = r_en.row_type == "soc" and r_en.grade in (None, "Any")
                if soc_row and zh.name in ("AET02", "AET04", "AET05", "DTHT01"):
                    assert r_zh.label == r_en.label and not marked(r_zh.label)
            shown = display(zh)
            assert any(h.startswith(MARK + "Total (N=") for h in shown.headers)
            assert marked(shown.unit)
            arm_heads = [h for h in shown.headers if not marked(h) and h != "p"]
            assert arm_heads == [f"{a.label} (N={a.N})" for a in zh.arms]
        overview = chinese[TABLE_NAMES.index("AET01")]
        assert overview.title == expected_title
        assert overview.row(any_teae).cells[TOTAL].n == english[0].row("Any TEAE").cells[TOTAL].n
        grades = chinese[TABLE_NAMES.index("AET04")]
        assert grades.row(i18n.translations("zh-Hans").gettext(aet04.OVERALL))
        soc_terms = chinese[TABLE_NAMES.index("AET02")]
        assert soc_terms.rows[0].label == MARK + aet02.OVERALL
        text = to_text(overview)
        assert text.count(MARK) > 10
        assert MARK + "Data cut-off" in text or MARK + "Safety population" in text


def test_english_is_the_default_and_unchanged(fixture_engine: Engine) -> None:
    default = build_table(fixture_engine, "FIX", "AET01", cutoff=CUTOFF)
    english = build_table(fixture_engine, "FIX", "AET01", cutoff=CUTOFF, language="en")
    with i18n.use("zh-Hans"):  # the reader's interface language does not matter
        again = build_table(fixture_engine, "FIX", "AET01", cutoff=CUTOFF)
    for t in (default, english, again):
        assert t.language == "en"
        assert t.title == "Overview of adverse events"
        assert [r.label for r in t.rows][:2] == ["Any AE", "Any TEAE"]
        assert t.footnotes[-1] == "Data cut-off: 2024-06-01."
    assert display(default).unit == "n (%) [events]"


def test_language_tags(fixture_engine: Engine) -> None:
    assert build_table(fixture_engine, "FIX", "AET01", language="zh_CN").language == "zh-Hans"
    with pytest.raises(TableError, match="unknown language"):
        build_table(fixture_engine, "FIX", "AET01", language="fr")


def test_csv_and_json_keep_chinese_readable(fixture_engine: Engine, monkeypatch) -> None:
    with fake_chinese(monkeypatch):
        table = build_table(fixture_engine, "FIX", "AET01", cutoff=CUTOFF, language="zh-Hans")
    text = to_csv([table], bom=True)
    assert text.startswith(BOM) and text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    records = list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))
    assert records[0]["table"] == "AET01"
    assert any(marked(r["term"]) for r in records)  # AET01's category names
    assert not to_csv([table]).startswith(BOM)  # the plain rendering (CLI to stdout)
    raw = to_json(table)
    assert MARK in raw and "\\u" not in raw
    assert json.loads(raw)["language"] == "zh-Hans"
