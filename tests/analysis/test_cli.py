"""`pvtracker tables` on the fixture study (drawn in test_fixture_tables.py)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from pv.cli import main
from pv.db import _engines
from pv.settings import get_settings

HEADER = (
    "table,row_type,soc,term,grade,arm,n,N,pct,events,pyears,rate,rate_low,rate_high,"
    "rd,rd_low,rd_high,p_value,irr,irr_low,irr_high,irr_bound_side,stat,value,value2"
)


@pytest.fixture
def cli(fixture_engine, db_url, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["tables", "--study", "FIX", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    get_settings.cache_clear()
    _release(db_url)


def _release(url: str) -> None:
    """Close the CLI's cached engine, so the test database can be dropped at once."""
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_is_long_format_one_line_per_row_and_arm(cli) -> None:  # type: ignore[no-untyped-def]
    """AET02 with the cut-off has 8 rows (overall, 3 SOCs, 4 terms) x 4 columns (3 arms and
    Total). Control is the comparator arm; RD = Active - Control = 2/2 - 1/2 = 0.5."""
    code, out, _ = cli("--table", "AET02", "--cutoff", "2024-06-01", "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == HEADER
    recs = rows(out)
    assert len(recs) == 8 * 4
    assert [r["arm"] for r in recs[:4]] == ["Control", "Active", "Empty", "Total"]
    assert {r["row_type"] for r in recs} == {"overall", "soc", "term"}
    overall = {r["arm"]: r for r in recs if r["row_type"] == "overall"}
    assert [(overall[a]["n"], overall[a]["N"], overall[a]["pct"], overall[a]["events"])
            for a in ("Control", "Active", "Empty", "Total")] == [
        ("1", "2", "50.0", "1"), ("2", "2", "100.0", "5"), ("0", "1", "0.0", "0"),
        ("3", "5", "60.0", "6")]  # fmt: skip
    assert float(overall["Active"]["rd"]) == 0.5 and float(overall["Empty"]["rd"]) == -0.5
    assert float(overall["Active"]["p_value"]) == pytest.approx(1.0)
    assert overall["Control"]["p_value"] == "" and overall["Total"]["p_value"] == ""
    assert overall["Control"]["rd"] == "" and overall["Total"]["rd"] == ""
    rash = [r for r in recs if r["term"] == "RASH"]
    assert {r["soc"] for r in rash} == {"SKIN AND SUBCUTANEOUS TISSUE DISORDERS"}
    assert all(r["grade"] == "" for r in recs)


def test_csv_grades_and_rates(cli) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = cli("--table", "AET04,AET05", "--cutoff", "2024-06-01", "--format", "csv")
    recs = rows(out)
    aet04 = [r for r in recs if r["table"] == "AET04"]
    assert aet04 and all(r["grade"] for r in aet04)
    any_teae = [r for r in recs if r["table"] == "AET05" and r["row_type"] == "overall"]
    active = next(r for r in any_teae if r["arm"] == "Active")
    # 2 subjects over 6 days at risk (see test_aet05_rates_per_100_patient_years)
    assert float(active["pyears"]) == pytest.approx(6 / 365.25, rel=1e-5)
    assert float(active["rate"]) == pytest.approx(200 * 365.25 / 6, rel=1e-5)


def test_control_can_be_chosen(cli) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = cli("--table", "AET02", "--format", "csv", "--control", "ACT")
    overall = {r["arm"]: r for r in rows(out) if r["row_type"] == "overall"}
    assert overall["Active"]["p_value"] == ""
    assert float(overall["Control"]["rd"]) == pytest.approx(-0.5)


def test_text_and_json(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("--table", "AET02", "--cutoff", "2024-06-01")
    assert code == 0
    assert "Control (N=2)" in out and "Active (N=2)" in out and "Total (N=5)" in out
    assert "2 (100.0%) [5]" in out and "Data cut-off: 2024-06-01." in out
    target = tmp_path / "t.json"
    code, out, _ = cli("--table", "AET01", "--format", "json", "--out", str(target))
    assert code == 0 and out == ""
    data = json.loads(target.read_text())
    assert data["name"] == "AET01" and data["control"] == "Control"
    assert [a["N"] for a in data["arms"]] == [2, 2, 1]
    assert data["params"]["teae_rule"]["window_days"] == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--table", "AET99"), "AET99"),
        (("--table", "AET02", "--control", "Nobody"), "Nobody"),
        (("--table", "AET02", "--cutoff", "June"), "--cutoff"),
        (("--table", "AET02", "--param", "window_days=-3"), "negative"),
    ],
)
def test_user_errors(cli, args, message) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("error:") and message in err


def test_unknown_study(fixture_engine, db_url, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        assert main(["tables", "--study", "NOPE", "--table", "AET01"]) == 2
        assert "NOPE" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
        _release(db_url)


def test_help_names_every_table(capsys) -> None:  # type: ignore[no-untyped-def]
    """--help lists the tables without importing the analysis modules: the written-out
    list must be the registry's, in its order."""
    import pytest as _pytest

    from pv.analysis import cli as analysis_cli
    from pv.analysis.api import TABLE_NAMES
    from pv.cli import main

    assert analysis_cli.TABLE_NAMES == TABLE_NAMES
    with _pytest.raises(SystemExit):
        main(["tables", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "table name (" + ", ".join(TABLE_NAMES) + ");" in shown
