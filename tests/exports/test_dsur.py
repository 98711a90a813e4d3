"""The DSUR workbook (pv.exports.dsur, ICH E2F): a small hand-built study checked cell by
cell, the command's exit codes, and the demo's tabulation against an independent count.

The hand-built study "DSURT" (rows written directly, as tests/analysis/conftest.py does):

    arms   Control (comparator, position 0): Pred          Active (position 1): Pred + Beli
    drugs  Beli (only in Active), Pred (every arm); listed by name: Beli, Pred
    site   01, China (-> case ids "CN-PVTRACKER-DSURT-<event id>")
    S1  Active, F, 40  Beli 10 mg/kg IV 2021-01-10, 10 mg/kg 2021-04-01, 5 mg/kg 2021-05-15,
                        8 mg/kg 2021-06-10 (ONCE); Pred 20 mg ORAL QD 2021-01-10..2021-06-30
    S2  Active, M, 55  Beli 10 mg/kg IV 2020-12-01; Pred 10 mg ORAL QD 2020-12-01..2021-12-31
    S3  Control, M, 60 Pred 15 mg ORAL QD 2021-01-15..2021-12-31
    S4  no arm, F, 30  no dosing

    event SOC / term (verbatim)           subj serious status    submitted
    e1  INF / Pneumonia (重症肺炎)        S1   yes  submitted 2021-03-06
    e2  INF / Pneumonia, onset "2021-05"  S1   yes  submitted 2021-05-20
    e3  INF / Sepsis                      S2   yes  submitted 2021-04-02
    e4  INF / Pneumonia                   S3   yes  submitted 2021-02-11
    e5  uncoded "=SUM(A1)"                S3   yes  submitted 2021-06-02
    e6  NERV / Headache                   S2   no   submitted 2021-03-01
    e7  NERV / Headache                   S2   yes  draft     -
    e8  GI / Diarrhoea                    S1   yes  submitted 2022-01-05
    e9  INF / Pneumonia                   S2   yes  submitted 2020-12-14
    e10 GI / Nausea                       S4   yes  submitted 2021-07-02

    causality: investigator (AEREL) | sponsor's assessment (awareness date; WHO-UMC)
    e1  Beli POSSIBLY RELATED, Pred NOT RELATED | 2021-03-07; Beli possible, Pred unlikely;
        Beli unexpected; SUSAR
    e2  Beli RELATED, Pred NOT RELATED          | none
    e3  Beli RELATED, Pred NOT RELATED          | 2021-04-03; Beli unlikely, Pred unlikely
    e4  Pred NOT RELATED                        | none
    e5  Pred POSSIBLY RELATED                   | none
    e8  Beli RELATED                            | none
    e9  Beli RELATED                            | 2020-12-15; Beli certain, Pred unlikely
    e10 none                                    | none

Reporting period 2021-01-01 to 2021-12-31 (data lock point 2021-12-31).

Received by the sponsor (pv.exports.dsur: assessment awareness, else site submission):
e1 2021-03-07, e2 2021-05-20, e3 2021-04-03, e4 2021-02-11, e5 2021-06-02, e8 2022-01-05,
e9 2020-12-15, e10 2021-07-02. e6 is not serious and e7 a draft: never in scope.

Cumulative tabulation (received <= 2021-12-31: e1 e2 e3 e4 e5 e9 e10; e8 is after the data
lock point). Counted as EVENTS (E2F: numbers of serious adverse events), so S1's two
pneumonias count 2. Columns Control (comparator), Active, No arm (S4), Total:

    Gastrointestinal disorders   0 0 1 1      (e10)
      Nausea                     0 0 1 1
    Infections and infestations  1 4 0 5      (e4 | e1 e2 e3 e9)
      Pneumonia                  1 3 0 4      (e4 | e1 e2 e9)
      Sepsis                     0 1 0 1      (e3)
    Not coded                    1 0 0 1      (e5)
      =SUM(A1)                   1 0 0 1
    Total                        2 4 1 7

SOCs alphabetical (G < I < N), terms alphabetical within a SOC (Pneumonia < Sepsis).
Masked: one "Blinded" column = Control + Active; S4's event stays under "No arm" (no arm
says nothing of the treatment: pv.blinding.policy).

Interval listing: suspected (sponsor certain/probable/possible; not assessed: investigator
related/possibly related) and received within the period: e1 (sponsor Beli possible),
e2 (not assessed, investigator RELATED), e5 (not assessed, POSSIBLY RELATED). Not listed:
e3 (sponsor: unlikely for both, although the investigator said related), e4 (not related),
e9 (received 2020-12-15, before the period), e8 (received after it), e10 (no causality).
Order: SOC, term, onset: INF/Pneumonia e1 ("2021-03-05") before e2 ("2021-05"), then
Not coded e5.
Doses at onset: e1 (2021-03-05): the infusion begun on or before it last is 2021-01-10,
10 mg/kg; e2 (partial "2021-05": doses begun in May count): 2021-05-15, 5 mg/kg; e5: Pred
15 mg QD. Time to onset (onset - first dose of any drug): e1 2021-03-05 - 2021-01-10 = 21
(rest of January) + 28 + 5 = 54 days; e2 partial: not computed; e5 2021-06-01 -
2021-01-15 = 16 + 28 + 31 + 30 + 31 + 1 = 137 days.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from pv.db import write_session
from pv.events.models import AdverseEvent
from pv.exports.dsur import build_dsur
from pv.exposure.models import Exposure
from pv.review.models import Assessment
from pv.study.models import Arm, ArmDrug, Drug, Site, Study, Subject
from tests.commands import Commands

STUDY = "DSURT"
INF = "Infections and infestations"
GI = "Gastrointestinal disorders"
NERV = "Nervous system disorders"
START, END = date(2021, 1, 1), date(2021, 12, 31)
TAB, LIST = "Cumulative SAE tabulation", "Interval line listing of SARs"
HEADER_ROW = 4


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utc(text: str) -> datetime:
    """Audit-style time stamps are stored with their time zone (UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build_study(engine: Engine, *, blinded: bool = False) -> dict[str, int]:
    """The study of the module docstring; returns the event ids by name."""
    with write_session(engine) as s:
        s.add(Study(id=STUDY, nct_id="NCT09999999", title="DSUR 测试研究",
                    sponsor="Sponsor 申办方", source="sdtm", blinded=blinded))  # fmt: skip
        s.flush()
        control = Arm(study_id=STUDY, label="Control", code="CTL", is_control=True, position=0)
        active = Arm(study_id=STUDY, label="Active", code="ACT", position=1)
        beli = Drug(study_id=STUDY, name="Beli", key="beli")
        pred = Drug(study_id=STUDY, name="Pred", key="pred")
        site = Site(study_id=STUDY, code="01", name="Site 01", country="China")
        s.add_all([control, active, beli, pred, site])
        s.flush()
        s.add_all([ArmDrug(arm_id=control.id, drug_id=pred.id),
                   ArmDrug(arm_id=active.id, drug_id=pred.id),
                   ArmDrug(arm_id=active.id, drug_id=beli.id)])  # fmt: skip
        subjects = {}
        for name, arm, sex, age in (("S1", active, "F", 40), ("S2", active, "M", 55),
                                    ("S3", control, "M", 60), ("S4", None, "F", 30)):  # fmt: skip
            subj = Subject(study_id=STUDY, site_id=site.id, usubjid=f"{STUDY}-{name}",
                           subjid=name, arm_id=arm.id if arm else None, sex=sex,
                           age=age)  # fmt: skip
            s.add(subj)
            s.flush()
            subjects[name] = subj

        def dose(subj: str, drug: Drug, amount: float, unit: str, route: str, freq: str,
                 start: str, end: str | None = None) -> None:  # fmt: skip
            s.add(Exposure(subject_id=subjects[subj].id, drug_id=drug.id, dose=amount,
                           unit=unit, dose_mg=amount, route=route, frequency=freq,
                           start=dt(start), end=dt(end) if end else None))  # fmt: skip

        for day, amount in (("2021-01-10", 10), ("2021-04-01", 10), ("2021-05-15", 5),
                            ("2021-06-10", 8)):  # fmt: skip
            dose("S1", beli, amount, "mg/kg", "INTRAVENOUS", "ONCE", day)
        dose("S1", pred, 20, "mg", "ORAL", "QD", "2021-01-10", "2021-06-30")
        dose("S2", beli, 10, "mg/kg", "INTRAVENOUS", "ONCE", "2020-12-01")
        dose("S2", pred, 10, "mg", "ORAL", "QD", "2020-12-01", "2021-12-31")
        dose("S3", pred, 15, "mg", "ORAL", "QD", "2021-01-15", "2021-12-31")

        ids: dict[str, int] = {}
        seq = 0

        def event(name: str, subj: str, term: str | None, soc: str | None, onset: str,
                  submitted: str | None, *, serious: bool = True, status: str = "submitted",
                  aerel: dict[str, str] | None = None,
                  verbatim: str | None = None) -> None:  # fmt: skip
            nonlocal seq
            seq += 1
            rel = aerel or {}
            ev = AdverseEvent(
                study_id=STUDY, subject_id=subjects[subj].id, site_id=site.id, aeseq=seq,
                status=status, aeterm=verbatim or (term or "").lower(), aedecod=term,
                aebodsys=soc, aeser=serious, aeshosp=serious, aestdtc=onset,
                aeout="RECOVERED/RESOLVED", aerel=rel,
                related=any(v in ("RELATED", "POSSIBLY RELATED") for v in rel.values()),
                submitted_at=utc(submitted) if submitted else None,
                created_at=utc(submitted or "2021-01-01"),
            )  # fmt: skip
            s.add(ev)
            s.flush()
            ids[name] = int(ev.id)  # type: ignore[arg-type]

        event("e1", "S1", "Pneumonia", INF, "2021-03-05", "2021-03-06", verbatim="重症肺炎",
              aerel={"beli": "POSSIBLY RELATED", "pred": "NOT RELATED"})  # fmt: skip
        event("e2", "S1", "Pneumonia", INF, "2021-05", "2021-05-20",
              aerel={"beli": "RELATED", "pred": "NOT RELATED"})  # fmt: skip
        event("e3", "S2", "Sepsis", INF, "2021-04-01", "2021-04-02",
              aerel={"beli": "RELATED", "pred": "NOT RELATED"})  # fmt: skip
        event(
            "e4", "S3", "Pneumonia", INF, "2021-02-10", "2021-02-11", aerel={"pred": "NOT RELATED"}
        )
        event("e5", "S3", None, None, "2021-06-01", "2021-06-02", verbatim="=SUM(A1)",
              aerel={"pred": "POSSIBLY RELATED"})  # fmt: skip
        event("e6", "S2", "Headache", NERV, "2021-02-27", "2021-03-01", serious=False)
        event("e7", "S2", "Headache", NERV, "2021-03-01", None, status="draft")
        event("e8", "S1", "Diarrhoea", GI, "2021-12-20", "2022-01-05", aerel={"beli": "RELATED"})
        event("e9", "S2", "Pneumonia", INF, "2020-12-10", "2020-12-14", aerel={"beli": "RELATED"})
        event("e10", "S4", "Nausea", GI, "2021-07-01", "2021-07-02")

        def assess(name: str, aware: str, causality: dict[str, str],
                   expectedness: dict[str, str], susar: bool) -> None:  # fmt: skip
            s.add(Assessment(event_id=ids[name], study_id=STUDY, event_version=1,
                             awareness_date=date.fromisoformat(aware),
                             seriousness_confirmed=True, causality=causality,
                             expectedness=expectedness, is_susar=susar,
                             assessed_by_name="officer"))  # fmt: skip

        assess("e1", "2021-03-07", {"beli": "possible", "pred": "unlikely"},
               {"beli": "unexpected"}, True)  # fmt: skip
        assess("e3", "2021-04-03", {"beli": "unlikely", "pred": "unlikely"}, {}, False)
        assess(
            "e9", "2020-12-15", {"beli": "certain", "pred": "unlikely"}, {"beli": "expected"}, False
        )
    return ids


@pytest.fixture
def study(engine: Engine) -> dict[str, int]:
    return build_study(engine)


def workbook(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data))


def rows(ws: Any, first: int = HEADER_ROW + 1) -> list[list[Any]]:
    out = []
    for row in ws.iter_rows(min_row=first, values_only=True):
        if all(v is None for v in row):
            break
        out.append(list(row))
    return out


# The tabulation of the module docstring, by hand.
TABULATION = [
    ["Gastrointestinal disorders", 0, 0, 1, 1],
    ["Nausea", 0, 0, 1, 1],
    ["Infections and infestations", 1, 4, 0, 5],
    ["Pneumonia", 1, 3, 0, 4],
    ["Sepsis", 0, 1, 0, 1],
    ["Not coded", 1, 0, 0, 1],
    ["=SUM(A1)", 1, 0, 0, 1],
    ["Total (all system organ classes)", 2, 4, 1, 7],
]


def test_the_sheets_and_the_cover(engine: Engine, study: dict[str, int]) -> None:
    wb = workbook(build_dsur(engine, STUDY, START, END, masked=False))
    assert wb.sheetnames == ["Cover", TAB, LIST]
    cover = {r[0]: r[1] for r in wb["Cover"].iter_rows(min_row=4, values_only=True) if r[0]}
    assert cover["Study"] == STUDY
    assert cover["Title"] == "DSUR 测试研究"  # Chinese text intact
    assert cover["NCT ID"] == "NCT09999999"
    assert cover["Sponsor"] == "Sponsor 申办方"
    assert cover["Reporting period"] == "2021-01-01 to 2021-12-31 (both included)"
    assert cover["Data lock point"] == datetime(2021, 12, 31)  # a real date cell
    assert cover["Arms"] == "Shown by arm"
    sheets = [r[1] for r in wb["Cover"].iter_rows(values_only=True) if r[0] == "Sheet"]
    assert sheets == [
        f"{TAB}: serious adverse events from the start of the study to the data lock point by "
        "system organ class, term and arm (7 events).",
        f"{LIST}: serious adverse reactions received in the reporting period (3 reactions).",
    ]
    rules = [r[1] for r in wb["Cover"].iter_rows(values_only=True) if r[0] == "Rule"]
    assert any("counted as EVENTS" in r for r in rules)
    assert any("partial" in r.lower() for r in rules)
    listing = wb[LIST]  # wider than a page: printed across pages at 100 %, titles repeated
    assert listing.print_title_rows == "$4:$4" and listing.print_title_cols == "$A:$C"
    assert (
        int(listing.page_setup.scale) == 100 and not listing.sheet_properties.pageSetUpPr.fitToPage
    )
    for ws in wb.worksheets:  # A4 landscape, the DSMB workbook's print set-up
        assert ws.page_setup.orientation == "landscape"
        assert int(ws.page_setup.paperSize) == 9  # A4


def test_the_cumulative_tabulation_cell_by_cell(engine: Engine, study: dict[str, int]) -> None:
    ws = workbook(build_dsur(engine, STUDY, START, END, masked=False))[TAB]
    assert [c.value for c in ws[HEADER_ROW]] == [
        "System organ class / term", "Control (comparator)", "Active", "No arm", "Total",
    ]  # fmt: skip
    assert rows(ws) == TABULATION
    # SOC rows bold, term rows indented
    assert ws.cell(HEADER_ROW + 1, 1).font.b and ws.cell(HEADER_ROW + 2, 1).alignment.indent == 1
    # Formula-safe: the uncoded term "=SUM(A1)" is a string cell, not a formula.
    cell = ws.cell(HEADER_ROW + 7, 1)
    assert cell.value == "=SUM(A1)" and cell.data_type == "s" and cell.quotePrefix


def test_a_later_data_lock_point_takes_the_later_event(
    engine: Engine, study: dict[str, int]
) -> None:
    """e8 (received 2022-01-05) enters with a data lock point of 2022-01-05, not before:
    GI becomes Diarrhoea 0 1 0 1 and Nausea 0 0 1 1 (D < N), total 2 5 1 8."""
    ws = workbook(build_dsur(engine, STUDY, date(2022, 1, 1), date(2022, 1, 5), masked=False))[TAB]
    got = rows(ws)
    assert got[:3] == [
        ["Gastrointestinal disorders", 0, 1, 1, 2], ["Diarrhoea", 0, 1, 0, 1],
        ["Nausea", 0, 0, 1, 1],
    ]  # fmt: skip
    assert got[-1] == ["Total (all system organ classes)", 2, 5, 1, 8]
    ws = workbook(build_dsur(engine, STUDY, START, date(2022, 1, 4), masked=False))[TAB]
    assert rows(ws)[-1] == ["Total (all system organ classes)", 2, 4, 1, 7]


def test_masked_tabulation_pools_every_arm(engine: Engine, study: dict[str, int]) -> None:
    wb = workbook(build_dsur(engine, STUDY, START, END, masked=True))
    ws = wb[TAB]
    heads = ["System organ class / term", "Blinded", "No arm", "Total"]
    assert [c.value for c in ws[HEADER_ROW]] == heads
    # Blinded = Control + Active; S4 has no arm, which says nothing of treatment
    assert rows(ws) == [[r[0], r[1] + r[2], r[3], r[4]] for r in TABULATION]
    texts = [str(v) for w in wb.worksheets[1:] for r in w.iter_rows(values_only=True) for v in r
             if v is not None]  # fmt: skip
    assert not any("Active" in t or "Control" in t or "Beli" in t for t in texts)


def _listing(engine: Engine, masked: bool, **kw: Any) -> list[list[Any]]:
    ws = workbook(build_dsur(engine, STUDY, START, END, masked=masked, **kw))[LIST]
    return rows(ws)


def test_the_interval_listing_cell_by_cell(engine: Engine, study: dict[str, int]) -> None:
    ws = workbook(build_dsur(engine, STUDY, START, END, masked=False))[LIST]
    assert [c.value for c in ws[HEADER_ROW]] == [
        "Study", "Case id", "Subject", "Country", "Age", "Sex", "Arm", "Suspect drug(s)",
        "Daily dose at onset", "Route", "Dates of treatment", "System organ class",
        "Term (CTCAE / MedDRA)", "Verbatim term", "Onset date", "Time to onset (days)",
        "Outcome", "Seriousness criteria", "Causality (investigator; sponsor)", "Expectedness",
        "SUSAR", "Received by the sponsor", "Comments",
    ]  # fmt: skip
    e1, e2, e5 = (study[k] for k in ("e1", "e2", "e5"))
    hosp = "Requires or prolongs hospitalization"
    assert rows(ws) == [
        [STUDY, f"CN-PVTRACKER-{STUDY}-{e1}", "DSURT-S1", "China", 40, "female", "Active",
         "Beli", "Beli: 10 mg/kg ONCE", "Beli: INTRAVENOUS", "Beli: 2021-01-10 - 2021-06-10",
         INF, "Pneumonia", "重症肺炎", "2021-03-05", 54, "Recovered/resolved", hosp,
         "Beli: investigator Possibly related; sponsor possible\n"
         "Pred: investigator Not related; sponsor unlikely",
         "Beli: unexpected", "Yes", datetime(2021, 3, 7), None],
        [STUDY, f"CN-PVTRACKER-{STUDY}-{e2}", "DSURT-S1", "China", 40, "female", "Active",
         "Beli", "Beli: 5 mg/kg ONCE", "Beli: INTRAVENOUS", "Beli: 2021-01-10 - 2021-06-10",
         INF, "Pneumonia", "pneumonia", "2021-05", None, "Recovered/resolved", hosp,
         "Beli: investigator Related; sponsor not assessed\n"
         "Pred: investigator Not related; sponsor not assessed",
         None, "not assessed", datetime(2021, 5, 20),
         "Partial onset date (2021-05): time to onset not computed. Not assessed by the "
         "sponsor yet: listed on the investigator's causality."],
        [STUDY, f"CN-PVTRACKER-{STUDY}-{e5}", "DSURT-S3", "China", 60, "male", "Control",
         "Pred", "Pred: 15 mg QD", "Pred: ORAL", "Pred: 2021-01-15 - 2021-12-31",
         "Not coded", "=SUM(A1)", "=SUM(A1)", "2021-06-01", 137, "Recovered/resolved", hosp,
         "Pred: investigator Possibly related; sponsor not assessed",
         None, "not assessed", datetime(2021, 6, 2),
         "Not assessed by the sponsor yet: listed on the investigator's causality."],
    ]  # fmt: skip
    # the partial onset stays text, never a date; "=SUM(A1)" stays text, not a formula
    onset = ws.cell(HEADER_ROW + 2, 15)
    assert onset.data_type == "s" and onset.value == "2021-05" and onset.quotePrefix
    for col in (13, 14):
        cell = ws.cell(HEADER_ROW + 3, col)
        assert cell.data_type == "s" and cell.value == "=SUM(A1)" and cell.quotePrefix
    assert ws.cell(HEADER_ROW + 1, 22).is_date  # received: a real date


def test_the_masked_listing_hides_the_arm_and_the_arm_specific_drug(
    engine: Engine, study: dict[str, int]
) -> None:
    """Beli is given only in Active: masked, it is "blinded study drug" without dose, route,
    dates or causality; Pred (every arm) stays."""
    got = _listing(engine, True)
    assert [r[6] for r in got] == ["Blinded", "Blinded", "Blinded"]
    assert [r[7] for r in got] == ["blinded study drug", "blinded study drug", "Pred"]
    assert [r[8] for r in got] == [None, None, "Pred: 15 mg QD"]
    assert [r[10] for r in got] == [None, None, "Pred: 2021-01-15 - 2021-12-31"]
    assert got[0][18] == "Pred: investigator Not related; sponsor unlikely"
    assert got[0][19] is None  # Beli's expectedness would name it
    assert [r[15] for r in got] == [54, None, 137]  # time to onset: from the first dose of any drug


def test_an_empty_period_says_so(engine: Engine, study: dict[str, int]) -> None:
    ws = workbook(build_dsur(engine, STUDY, date(2021, 8, 1), date(2021, 8, 31), masked=False))[
        LIST
    ]
    assert ws.cell(HEADER_ROW + 1, 1).value == (
        "No serious adverse reaction received in the reporting period."
    )
    # the cumulative tabulation still counts everything received up to 2021-08-31
    tab = workbook(build_dsur(engine, STUDY, date(2021, 8, 1), date(2021, 8, 31), masked=False))[
        TAB
    ]
    assert rows(tab)[-1] == ["Total (all system organ classes)", 2, 4, 1, 7]


def test_refusals(engine: Engine, study: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="after it ends"):
        build_dsur(engine, STUDY, END, START, masked=False)
    with pytest.raises(LookupError, match="NOPE"):
        build_dsur(engine, "NOPE", START, END, masked=False)


def test_chinese_workbook_keeps_the_data_as_entered(engine: Engine, study: dict[str, int]) -> None:
    wb = workbook(build_dsur(engine, STUDY, START, END, masked=False, language="zh-Hans"))
    listing = wb.worksheets[2]
    assert rows(listing)[0][13] == "重症肺炎"
    cover = {r[1] for r in wb.worksheets[0].iter_rows(values_only=True) if len(r) > 1}
    assert "Sponsor 申办方" in cover and "DSUR 测试研究" in cover


# --- The command ------------------------------------------------------------------------


@pytest.fixture
def cli(engine: Engine, db_url: str, study: dict[str, int], monkeypatch, capsys):  # type: ignore[no-untyped-def]
    commands = Commands(monkeypatch, capsys, db_url)
    yield commands
    commands.close()


def test_the_command_writes_the_workbook(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "dsur.xlsx"
    code, text, err = cli("dsur", "--study", STUDY, "--from", "2021-01-01", "--to", "2021-12-31",
                          "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert "reporting period 2021-01-01 to 2021-12-31" in text
    wb = load_workbook(out)
    assert rows(wb[TAB]) == TABULATION
    assert len(rows(wb[LIST])) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2021-13-01", "--to", "2021-12-31"], "--from must be a date YYYY-MM-DD"),
        (["--from", "2021-01-01", "--to", "31/12/2021"], "--to must be a date YYYY-MM-DD"),
        (["--from", "2022-01-01", "--to", "2021-12-31"], "--from (2022-01-01) is after --to"),
        (["--study", "NOPE", "--from", "2021-01-01", "--to", "2021-12-31"], "no study NOPE"),
    ],
)
def test_the_command_refuses(cli, tmp_path, args, message) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "dsur.xlsx"
    base = [] if "--study" in args else ["--study", STUDY]
    code, _, err = cli("dsur", *base, *args, "--out", str(out))
    assert code == 2 and message in err
    assert not out.exists()
    code, _, err = cli("dsur", "--study", STUDY, "--from", "2021-01-01", "--to", "2021-12-31",
                       "--out", str(tmp_path / "dsur.csv"))  # fmt: skip
    assert code == 2 and ".xlsx" in err


def test_a_blinded_study_is_pooled_unless_as_may_see_arms(cli, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from pv.audit.service import Actor
    from pv.auth.service import create_user

    with write_session(engine) as s:
        s.execute(update(Study).where(Study.id == STUDY).values(blinded=True))
        create_user(session=s, actor=Actor.system("test"), username="unblinded", role="officer")
        create_user(session=s, actor=Actor.system("test"), username="blind", role="officer")
        from pv.auth.models import User

        s.execute(update(User).where(User.username == "unblinded").values(unblinded=True))
    period = ["--study", STUDY, "--from", "2021-01-01", "--to", "2021-12-31"]
    for who, header in (
        (None, "Blinded"),
        ("blind", "Blinded"),
        ("unblinded", "Control (comparator)"),
    ):
        out = tmp_path / f"{who}.xlsx"
        extra = ["--as", who] if who else []
        code, text, err = cli("dsur", *period, *extra, "--out", str(out))
        assert code == 0, err
        assert load_workbook(out)[TAB].cell(HEADER_ROW, 2).value == header
        assert ("arms pooled (blinded)" in text) == (header == "Blinded")
