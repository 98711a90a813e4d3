"""`pvtracker dsmb-report`, `pvtracker export ctgov` and `pvtracker export sdtm`."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook

from pv.exports import ctgov
from tests.commands import Commands
from tests.exports.conftest import STUDY, Demo


@pytest.fixture
def cli(demo: Demo, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    commands = Commands(monkeypatch, capsys, demo.url)
    yield commands
    commands.close()


def test_dsmb_report_writes_the_workbook(cli, demo, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pv.audit.service import Actor
    from pv.auth.service import create_user
    from pv.db import write_session

    monkeypatch.setattr("pv.exports.workbook.SEPARATE_CHARTS_EVENTS", 10**9)
    with write_session(demo.engine) as s:  # the closed session is a DSMB member's
        create_user(session=s, actor=Actor.system("test"), username="cli-dsmb", role="dsmb")
    out = tmp_path / "dsmb.xlsx"
    code, text, _ = cli(
        "dsmb-report",
        "--as",
        "cli-dsmb",
        "--study",
        STUDY,
        "--cutoff",
        "2021-12-31",
        "--session",
        "closed",
        "--mask-arms",
        "--out",
        str(out),
    )
    assert code == 0 and "wrote" in text
    wb = load_workbook(out, read_only=True)
    assert "All AEs" in wb.sheetnames
    cover = {r[0]: r[1] for r in wb["Cover"].iter_rows(values_only=True) if len(r) > 1}
    assert cover["Session"] == "Closed session (by arm, arms coded)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cutoff", "31/12/2021", "--session", "open", "--out", "x.xlsx"], "YYYY-MM-DD"),
        (["--cutoff", "2021-12-31", "--session", "open", "--out", "x.csv"], ".xlsx"),
        (
            ["--study", "NOPE", "--cutoff", "2021-12-31", "--session", "open", "--out", "x.xlsx"],
            "no study",
        ),
    ],
)
def test_dsmb_report_errors(cli, args, message, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    full = ["dsmb-report", *(["--study", STUDY] if "--study" not in args else []), *args]
    code, _, err = cli(*full)
    assert code == 2 and message in err


def test_export_ctgov(cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "ct.json"
    code, text, _ = cli("export", "ctgov", "--study", STUDY, "--threshold", "10", "--out", str(out))
    assert code == 0 and "2 event groups" in text
    module = json.loads(out.read_text())["resultsSection"]["adverseEventsModule"]
    assert module["frequencyThreshold"] == "10"
    real = ctgov.build_results

    def inconsistent(*args, **kwargs):  # type: ignore[no-untyped-def]
        results = real(*args, **kwargs)
        results["adverseEventsModule"]["eventGroups"][1]["deathsNumAtRisk"] += 1
        return results

    monkeypatch.setattr(ctgov, "build_results", inconsistent)
    code, _, err = cli("export", "ctgov", "--study", STUDY, "--out", str(tmp_path / "bad.json"))
    assert code == 2 and "EG001: at-risk numbers differ" in err
    assert not (tmp_path / "bad.json").exists()


def test_export_sdtm(cli, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pv.exports.sdtm import domains

    code, text, _ = cli("export", "sdtm", "--study", STUDY, "--out", str(tmp_path / "sdtm"))
    assert code == 0 and "AE" in text
    # DM, AE and EX always; SUPPAE, DS, VS and DD when the demo has records for them.
    with demo.engine.connect() as conn:
        found = domains(conn, STUDY)
    written = ["DM", "AE", "EX"] + [n for n in ("SUPPAE", "DS", "VS", "DD") if len(found[n])]
    assert {p.name for p in (tmp_path / "sdtm").iterdir()} == {
        f"{n.lower()}.{ext}" for n in written for ext in ("csv", "xpt")
    }
    for name in written:
        assert f"{name} {len(found[name])} record" in text
    code, _, err = cli("export", "sdtm", "--study", "NOPE", "--out", str(tmp_path / "x"))
    assert code == 2 and "NOPE" in err
