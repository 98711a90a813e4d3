"""Charts in Chinese: every text through gettext, drawn with a CJK font (no missing
glyph), ISO dates; without a CJK font, English with a logged warning."""

from __future__ import annotations

import logging
import warnings

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from pv import charts, i18n
from pv.charts import style
from pv.demo.generate import build_demo
from pv.study.models import Subject
from tests.i18n.test_outputs_helpers import MARK, fake_chinese

needs_cjk = pytest.mark.skipif(
    style.cjk_family() is None, reason="no CJK font installed (apt install fonts-noto-cjk)"
)


@pytest.fixture
def study(engine: Engine) -> str:
    return build_demo(engine, seed=42).study_id


def _glyph_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "Glyph" in str(w.message)]


def test_without_the_font_chinese_text_loses_glyphs() -> None:
    """The check below means something: matplotlib's default font has no Chinese."""
    fig = style.new_figure()
    fig.suptitle(MARK + "不良事件")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(__import__("io").BytesIO(), format="png")
    assert _glyph_warnings(caught)


@needs_cjk
def test_every_chart_renders_in_chinese_without_missing_glyphs(
    engine: Engine, study: str, monkeypatch
) -> None:
    texts: list[str] = []
    real = style.to_bytes

    def spy(fig: Figure, fmt: str = "png") -> bytes:
        data = real(fig, fmt)
        texts.extend(t.get_text() for t in fig.findobj(Text) if t.get_text())
        families = {tuple(t.get_fontfamily()) for t in fig.findobj(Text) if t.get_text()}
        assert families == {(style.LATIN_FAMILY, style.cjk_family())}
        return data

    monkeypatch.setattr(style, "to_bytes", spy)
    with Session(engine) as s:
        subject = s.exec(select(Subject.id).where(Subject.study_id == study)).first()
    assert subject is not None
    with fake_chinese(monkeypatch), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = charts.render_all(engine, study, language="zh-Hans")
        images["subject_timeline"] = charts.chart_subject_timeline(
            engine, subject, language="zh-Hans"
        )
        images["subject_prednisone"] = charts.chart_cumulative_prednisone(
            engine, study, subject, language="zh-Hans"
        )
        with i18n.use("zh-Hans"):  # the language in hand, no argument
            images["pooled_forest"] = charts.chart_aesi_forest(engine, study, pooled=True)
    assert not _glyph_warnings(caught), _glyph_warnings(caught)
    assert all(png[:4] == b"\x89PNG" for png in images.values())
    titled = [t for t in texts if t.startswith(MARK)]
    assert len(titled) > 40  # titles, axes, legends, notes
    # month names never reach a Chinese chart: its date axes are ISO 8601
    months = ("Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ")
    assert not [t for t in texts if t.startswith(months)]


def test_english_charts_are_unchanged(engine: Engine, study: str) -> None:
    with i18n.use("zh-Hans"):
        english = charts.chart_km_infection(engine, study, language="en")
    assert english == charts.chart_km_infection(engine, study)


def test_no_cjk_font_means_english_with_a_warning(monkeypatch, caplog) -> None:
    monkeypatch.setattr(style, "cjk_family", lambda: None)
    with caplog.at_level(logging.WARNING, logger="pv.charts.style"):
        assert style.chart_language("zh-Hans") == "en"
    assert "no CJK font" in caplog.text and "fonts-noto-cjk" in caplog.text
    with style.drawing("zh-Hans") as shown:
        assert shown == "en" and i18n.current() == "en"
    assert style.chart_language("en") == "en"
