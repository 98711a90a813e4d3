"""`pvtracker report cioms|e2b`: the files of a serious event; a clear refusal otherwise."""

from __future__ import annotations

from pathlib import Path

import e2br3
import pytest
from sqlmodel import col, select

from pv.auth.models import Role, User
from pv.auth.service import actor_for
from pv.cli import main
from pv.db import _engines, make_engine, read_session, write_session
from pv.demo.generate import build_demo
from pv.events.models import AdverseEvent
from pv.icsr.models import ReportFormat, ReportVersion
from pv.icsr.versions import get_version, prepare_version, version_file
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


def _prepare(url: str, event_id: int) -> None:
    """The officer prepares (freezes) a report version (pv.icsr.versions)."""
    engine = make_engine(url)
    try:
        with write_session(engine) as s:
            officer = s.exec(select(User).where(User.role == Role.officer)).first()
            prepare_version(s, actor_for(officer), event_id)
    finally:
        engine.dispose()


def test_report_writes_the_cioms_form_and_the_icsr(demo_url, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    serious, mild = _events(demo_url)
    pdf, xml = tmp_path / "c.pdf", tmp_path / "c.xml"
    engine = make_engine(demo_url)
    with read_session(engine) as s:
        prepared = s.exec(select(ReportVersion).where(ReportVersion.event_id == serious.id)).all()
    engine.dispose()
    if not prepared:  # the demo may have prepared it already (planted SUSARs)
        assert main(["report", "e2b", "--event", str(serious.id), "--out", str(xml)]) == 2
        assert "no report version yet" in capsys.readouterr().err
        assert not xml.exists()
        _prepare(demo_url, serious.id)
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


def test_report_writes_the_given_version(demo_url, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    serious, _mild = _events(demo_url)
    engine = make_engine(demo_url)
    with read_session(engine) as s:
        before = len(s.exec(select(ReportVersion)
                            .where(ReportVersion.event_id == serious.id)).all())  # fmt: skip
    engine.dispose()
    _prepare(demo_url, serious.id)
    out = tmp_path / "v.xml"
    engine = make_engine(demo_url)
    try:
        with read_session(engine) as s:
            latest = get_version(s, serious.id)
            files = {n: version_file(get_version(s, serious.id, n), ReportFormat.e2b, masked=False)
                     for n in range(1, latest.number + 1)}  # fmt: skip
            pdf_zh = version_file(latest, ReportFormat.cioms_zh, masked=False)[1]
    finally:
        engine.dispose()
    assert latest.number >= max(before, 1)
    for n, (_name, data) in files.items():  # each version: the bytes of its download
        assert main(["report", "e2b", "--event", str(serious.id), "--version", str(n),
                     "--out", str(out)]) == 0  # fmt: skip
        assert out.read_bytes() == data
        assert f"version {n}" in capsys.readouterr().out
    assert main(["report", "e2b", "--event", str(serious.id), "--out", str(out)]) == 0
    assert out.read_bytes() == files[latest.number][1]  # no --version: the latest
    capsys.readouterr()
    pdf = tmp_path / "v.pdf"
    assert main(["report", "cioms", "--event", str(serious.id), "--lang", "zh-Hans",
                 "--out", str(pdf)]) == 0  # fmt: skip
    assert pdf.read_bytes() == pdf_zh
    missing = str(latest.number + 1)
    assert main(["report", "e2b", "--event", str(serious.id), "--version", missing,
                 "--out", str(out)]) == 2  # fmt: skip
    assert f"has no report version {missing}" in capsys.readouterr().err
    assert main(["report", "e2b", "--event", str(serious.id), "--version", "0",
                 "--out", str(out)]) == 2  # fmt: skip
    assert "is not a version number" in capsys.readouterr().err
