"""The DSMB workbook of a blinded study: the closed session (for DSMB members and unblinded
users, pv.exports.firewall) codes the arms (Arm A, Arm B) for a DSMB member without the
unblinded permission; with it, the real arms. Web download and command alike."""

from __future__ import annotations

import io
import zipfile

import pytest

from pv.cli import main
from pv.db import _engines
from pv.settings import get_settings
from tests.blinding.conftest import ARM_LABELS, BLIND_ID, found_secrets
from tests.web.webhelpers import login

CUTOFF = "2021-12-31"


def _xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()
                         if n.endswith((".xml", ".rels")))  # fmt: skip


@pytest.fixture(autouse=True)
def _few_charts(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("pv.exports.workbook.SEPARATE_CHARTS_EVENTS", 10**9)


def test_the_web_workbook(blind) -> None:
    url = f"/reports/dsmb.xlsx?study={BLIND_ID}&cutoff={CUTOFF}"
    dsmb, _ = login(blind.app, "dsmb")
    closed = dsmb.get(url + "&report=closed")
    assert closed.status_code == 200, closed.text
    assert "-masked" in closed.headers["content-disposition"]
    text = _xlsx_text(closed.content)
    assert found_secrets(text) == [] and "Arm A" in text and "Arm B" in text
    officer, _ = login(blind.app, "officer")
    opened = officer.get(url)  # the officer's default: the open session
    assert opened.status_code == 200
    assert found_secrets(_xlsx_text(opened.content)) == []
    unblinded, _ = login(blind.app, "dsmb_u")
    real = unblinded.get(url + "&report=closed")
    assert real.status_code == 200 and "-masked" not in real.headers["content-disposition"]
    assert all(label in _xlsx_text(real.content) for label in ARM_LABELS)


def test_the_command(blind, db_url, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    monkeypatch.delenv("PV_ACTOR", raising=False)
    get_settings.cache_clear()
    try:
        for who, secret in (("dsmb", False), ("dsmb_u", True)):
            out = tmp_path / f"{who}.xlsx"
            code = main(["dsmb-report", "--study", BLIND_ID, "--cutoff", CUTOFF, "--session",
                         "closed", "--out", str(out), "--as", who])  # fmt: skip
            assert code == 0, capsys.readouterr().err
            text = _xlsx_text(out.read_bytes())
            assert bool(found_secrets(text)) is secret, who
            if not secret:
                assert "Arm A" in text
    finally:
        get_settings.cache_clear()
        engine = _engines.pop(db_url, None)
        if engine is not None:
            engine.dispose()
