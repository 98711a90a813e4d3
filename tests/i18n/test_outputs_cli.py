"""The command line's language: from PV_LANGUAGE, else LC_ALL / LC_MESSAGES / LANG, else
English; `tables --lang` and `dsmb-report --lang` choose the outputs' language."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from pv import i18n
from pv.cli import environment_language, main
from pv.db import _engines
from pv.settings import get_settings
from tests.analysis.conftest import build_fixture_study
from tests.i18n.test_outputs_helpers import MARK, fake_chinese

LOCALE_VARS = ("PV_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh-Hans"),
        ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.GB18030"}, "zh-Hans"),
        ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),  # LC_ALL set: it decides
        ({"LC_ALL": "", "LANG": "zh_TW.UTF-8"}, "zh-Hans"),  # empty counts as unset
        ({"PV_LANGUAGE": "en", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"PV_LANGUAGE": "zh-Hans", "LC_ALL": "en_GB.UTF-8"}, "zh-Hans"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8@pinyin"}, "zh-Hans"),
    ],
)
def test_environment_language(environ: dict[str, str], expected: str) -> None:
    assert environment_language(environ) == expected


def _clear_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LOCALE_VARS:
        monkeypatch.delenv(name, raising=False)


def test_main_speaks_the_environment_language(monkeypatch, capsys) -> None:
    _clear_locale(monkeypatch)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    with fake_chinese(monkeypatch):
        code = main(["tables", "--study", "X", "--table", "AET01", "--cutoff", "not-a-date"])
        err = capsys.readouterr().err
    # the command's error message and its "error:" prefix both went through gettext
    assert code == 2
    assert err.startswith(MARK + "error: " + MARK + "--cutoff must be a date")
    assert i18n.current() == "en"  # the command's language ended with it
    monkeypatch.setenv("PV_LANGUAGE", "en")
    code = main(["tables", "--study", "X", "--table", "AET01", "--cutoff", "not-a-date"])
    assert capsys.readouterr().err.startswith("error: --cutoff must be a date")


def test_tables_lang_option(engine, db_url, monkeypatch, capsys, tmp_path) -> None:
    _clear_locale(monkeypatch)
    build_fixture_study(engine)
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        with fake_chinese(monkeypatch):
            code = main(["tables", "--study", "FIX", "--table", "AET01", "--lang", "zh-Hans"])
            text = capsys.readouterr().out
            assert code == 0 and MARK + "Overview of adverse events" in text
            out = tmp_path / "aet01.csv"
            args = ["tables", "--study", "FIX", "--table", "AET01", "--format", "csv"]
            assert main([*args, "--lang", "zh-Hans", "--out", str(out)]) == 0
        data = out.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")  # a CSV file for Excel
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert any(r["term"].startswith(MARK) for r in rows)
        main(args)  # standard output: no byte-order mark, English by default
        plain = capsys.readouterr().out
        assert plain.startswith("table,") and MARK not in plain
        with pytest.raises(SystemExit):
            main(["tables", "--study", "FIX", "--table", "AET01", "--lang", "de"])
    finally:
        get_settings.cache_clear()
        engine_ = _engines.pop(db_url, None)
        if engine_ is not None:
            engine_.dispose()


def test_the_language_set_up_stays_light() -> None:
    """pv.cli (which sets the language) loads neither Babel nor the data libraries: the
    catalog is read when a message is first translated, not to print --help."""
    code = (
        "import sys, pv.cli; pv.cli.environment_language(); "
        "heavy = [m for m in ('pandas', 'numpy', 'matplotlib', 'babel', 'sqlalchemy') "
        "if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_dsmb_report_lang_option(engine, db_url, monkeypatch, capsys, tmp_path) -> None:
    from openpyxl import load_workbook

    from pv.demo.generate import build_demo

    _clear_locale(monkeypatch)
    study = build_demo(engine, seed=42).study_id
    from sqlalchemy import update

    from pv.db import write_session
    from pv.study.models import Study

    with write_session(engine) as s:  # a charter that lists patients in the open session
        s.execute(update(Study).where(Study.id == study).values(dsmb_open_listings=True))
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    get_settings.cache_clear()
    out = tmp_path / "dsmb.xlsx"
    args = ["dsmb-report", "--study", study, "--cutoff", "2021-12-31", "--session", "open"]
    try:
        with fake_chinese(monkeypatch):
            assert main([*args, "--lang", "zh-Hans", "--out", str(out)]) == 0
            said = capsys.readouterr().out
        # the confirmation is in the environment's language (English here), and counts the
        # listing under its Chinese sheet name
        assert said.startswith(f"wrote {out}: ") and " 0 adverse events" not in said
        names = load_workbook(out, read_only=True).sheetnames
        assert MARK + "All AEs" in names and "All AEs" not in names
        monkeypatch.setenv("PV_LANGUAGE", "zh-Hans")
        with fake_chinese(monkeypatch):
            assert main([*args, "--out", str(out)]) == 0  # English workbook, Chinese message
            said = capsys.readouterr().out
        assert said.startswith(MARK + "wrote ") and MARK + "open session" in said
        assert "All AEs" in load_workbook(out, read_only=True).sheetnames
    finally:
        get_settings.cache_clear()
        engine_ = _engines.pop(db_url, None)
        if engine_ is not None:
            engine_.dispose()
