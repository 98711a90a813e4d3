"""`pvtracker report cioms|e2b`: the files of a serious event; a clear refusal otherwise."""

from __future__ import annotations

from pathlib import Path

import e2br3
import pytest
from sqlmodel import col, select

from pv.cli import main
from pv.db import _engines, make_engine, read_session
from pv.demo.generate import build_demo
from pv.events.models import AdverseEvent
from pv.settings import get_settings
from tests.icsr.pdftext import norm, page_texts


@pytest.fixture
def demo_url(db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    build_demo(engine, seed=42)
    engine.dispose()
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    monkeypatch.delenv("PV_LANGUAGE", raising=False)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()
    _engines.pop(db_url, None)


def _events(url: str) -> tuple[AdverseEvent, AdverseEvent]:
    engine = make_engine(url)
    try:
        with read_session(engine) as s:
            serious = s.exec(select(AdverseEvent).where(col(AdverseEvent.aeser).is_(True))
                             .order_by(AdverseEvent.id)).first()  # fmt: skip
            mild = s.exec(select(AdverseEvent).where(col(AdverseEvent.aeser).is_(False))).first()
            return serious, mild
    finally:
        engine.dispose()


def test_report_writes_the_cioms_form_and_the_icsr(demo_url, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    serious, mild = _events(demo_url)
    pdf, xml = tmp_path / "c.pdf", tmp_path / "c.xml"
    assert main(["report", "cioms", "--event", str(serious.id), "--out", str(pdf)]) == 0
    assert main(["report", "e2b", "--event", str(serious.id), "--out", str(xml)]) == 0
    assert "version" in capsys.readouterr().out
    assert norm(serious.aeterm) in "".join(page_texts(pdf.read_bytes()))
    icsr = e2br3.parse(xml).icsrs[0]
    assert icsr.reactions[0].native_term == serious.aeterm
    assert icsr.worldwide_case_id.endswith(f"-{serious.id}")
    assert main(["report", "e2b", "--event", str(mild.id), "--out", str(xml)]) == 2
    assert "is not serious" in capsys.readouterr().err
    assert main(["report", "e2b", "--event", "x1", "--out", str(xml)]) == 2
    assert "is not an event id" in capsys.readouterr().err
