"""The SAE case data of a spreadsheet upload (issue 16): the optional sheets SAE_CASE,
MEDICAL_HISTORY, CONMEDS, TESTS and CHALLENGE, read when present, checked by the case-data
service, stored in the upload's own transaction (all or nothing); CSV unaffected.

Expected values are written by hand from the cells typed below and the normalisation rules
of pv/icsr/casedata.py (check_case_data: strip, country and autopsy upper-cased, challenge
results lower-cased, a dose as a number, Y/N as true/false)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.auth.service import create_user
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.events.rules import Findings
from pv.events.service import ValidationFailed
from pv.icsr import casedata
from pv.icsr.models import SaeCase
from pv.imports.spreadsheet import import_upload, template_for_study
from pv.imports.spreadsheet.case_sheets import REF_COLUMNS, SHEET_COLUMNS
from pv.study.models import Site
from tests.imports.test_spreadsheet import ANAPHYLAXIS, HEADER, good

ADMIN = Actor(username="admin", user_id=None, role="admin")
AE_HEADER = [*HEADER, "AEAWAREDTC", "AESPID"]


def serious(usubjid: str, **over: str) -> dict[str, str]:
    row = good(usubjid, AETERM="过敏反应 after infusion", AELLTCD=ANAPHYLAXIS, AETOXGR="3",
               AESER="Y", AESHOSP="Y", NARRATIVE="Admitted for observation.",
               AEAWAREDTC="2021-03-06")  # fmt: skip
    row.update(over)
    return row


def workbook(ae_rows: list[dict[str, str]], sheets: dict[str, list[list[object]]],
             header: list[str] = AE_HEADER) -> bytes:  # fmt: skip
    """Sheet AE, then each case sheet: its first list is the header, the rest its rows."""
    wb = Workbook()
    ws = wb.active
    ws.title = "AE"
    ws.append(header)
    for r in ae_rows:
        ws.append([r.get(h) for h in header])
    for name, rows in sheets.items():
        sh = wb.create_sheet(name)
        for r in rows:
            sh.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(env, data: bytes, filename: str = "ae.xlsx", actor: Actor = ADMIN, site_ids=None):  # type: ignore[no-untyped-def]
    return import_upload(engine=env.engine, actor=actor, study_id=env.study_id,
                         site_ids=site_ids, filename=filename, data=data)  # fmt: skip


def cases(env) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    """Event id -> the stored case payload."""
    with read_session(env.engine) as s:
        return {r.event_id: casedata.case_data_dict(r) for r in s.exec(select(SaeCase))}


def event_ids(env) -> list[int]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return list(s.exec(select(AdverseEvent.id).order_by(AdverseEvent.id)))


def where(errors) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    return [(e.sheet, e.row, e.column) for e in errors]


def _ae(env):  # type: ignore[no-untyped-def]
    """Row 2 not serious; row 3 serious (AESPID SP-2); row 4 a fatal serious event."""
    return [
        good(env.subject("0012"), AESPID="SP-1"),
        serious(env.subject("007"), AESPID="SP-2"),
        serious(env.subject("12"), AETOXGR="5", AESDTH="Y", AEOUT="FATAL", AEENDTC="2021-03-06",
                AESPID="SP-9"),
    ]  # fmt: skip


def _full_sheets(env) -> dict[str, list[list[object]]]:  # type: ignore[no-untyped-def]
    s = SHEET_COLUMNS
    return {
        "SAE_CASE": [
            ["AE_ROW", "USUBJID", "AESPID", *s["SAE_CASE"]],
            [
                3,
                None,
                None,
                " 张伟 医生 ",
                "1",
                "cn",
                "+86 10 6915 6114",
                "2021-03-06",
                "2021-03-09",
                None,
                None,
                None,
                None,
            ],
            [
                None,
                env.subject("12"),
                "SP-9",
                "李娜",
                "2",
                "CN",
                "li.na@example.cn",
                "2021-03-05",
                None,
                "2021-03-06",
                "过敏性休克",
                "y",
                "过敏性休克，喉头水肿",
            ],
        ],
        "MEDICAL_HISTORY": [
            ["AE_ROW", "TERM", "START", "ONGOING"],
            [3, "系统性红斑狼疮", "2015-06", "Y"],
            [3, "高血压", "2018", "n"],
        ],
        "CONMEDS": [
            ["AE_ROW", *s["CONMEDS"]],
            [3, "羟氯喹", "200", "mg", "口服", "2020-01", None, "系统性红斑狼疮"],
            [3, "Calcium carbonate", "0.5", "g", "oral", "2020-02-01", "2021-03-04", None],
        ],
        "TESTS": [
            ["AE_ROW", *s["TESTS"]],
            [3, "血红蛋白", "2021-03-06", "85", "g/L", "115", "150"],
        ],
        "CHALLENGE": [
            ["AE_ROW", "DRUG", "DECHALLENGE", "RECHALLENGE"],
            [3, "belimumab", "YES", "na"],
            [3, "Prednisone", "unknown", None],
        ],
    }


# --- the template ------------------------------------------------------------------------


def test_the_template_has_the_case_sheets_with_their_headers(upload_study):
    env = upload_study
    with read_session(env.engine) as s:
        data = template_for_study(s, env.study_id)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames[0] == "AE" and wb.active.title == "AE"
    for name, columns in SHEET_COLUMNS.items():
        header = [c.value for c in next(wb[name].iter_rows(max_row=1))]
        assert header == [*REF_COLUMNS, *columns], name
        assert wb[name].sheet_state == "visible" and wb[name].max_row == 1
    assert [c.value for c in next(wb["SAE_CASE"].iter_rows(max_row=1))][3:6] == [
        "REPORTER_NAME", "REPORTER_QUALIFICATION", "REPORTER_COUNTRY"]  # fmt: skip
    readme = [r[0] for r in wb["README"].iter_rows(values_only=True)]
    assert "SAE_CASE!HOSP_ADMIT_DATE" in readme and "CHALLENGE!RECHALLENGE" in readme
    assert any(str(line).startswith("8. SAE case data (optional") for line in readme)
    # The coded columns offer their lists.
    lists = {str(dv.sqref).split(":")[0].rstrip("0123456789"): dv.formula1
             for dv in wb["CHALLENGE"].data_validations.dataValidation}  # fmt: skip
    assert lists == {"E": '"yes,no,na,unknown"', "F": '"yes,no,na,unknown"',
                     "D": '"belimumab,prednisone"'}  # fmt: skip
    # The untouched template uploads as before: its empty case sheets are no problem.
    result = upload(env, data)
    assert result.refused is None
    assert [e.reason for e in result.errors] == ["the file has no data rows"]


# --- read and stored exactly ----------------------------------------------------------------


def test_the_case_sheets_are_read_and_stored_exactly(upload_study):
    env = upload_study
    result = upload(env, workbook(_ae(env), _full_sheets(env)))
    assert result.ok, (result.refused, result.errors)
    assert result.stored == 3
    first, second, third = result.event_ids
    stored = cases(env)
    assert set(stored) == {second, third}  # the serious events only
    assert stored[second] == {
        "reporter_name": "张伟 医生", "reporter_qualification": "1", "reporter_country": "CN",
        "reporter_contact": "+86 10 6915 6114", "hosp_admit_date": "2021-03-06",
        "hosp_discharge_date": "2021-03-09", "death_date": None, "death_cause": None,
        "autopsy": None, "autopsy_cause": None,
        "medical_history": [{"term": "系统性红斑狼疮", "start": "2015-06", "ongoing": True},
                            {"term": "高血压", "start": "2018", "ongoing": False}],
        "conmeds": [
            {"name": "羟氯喹", "dose": 200, "unit": "mg", "route": "口服", "start": "2020-01",
             "stop": None, "indication": "系统性红斑狼疮"},
            {"name": "Calcium carbonate", "dose": 0.5, "unit": "g", "route": "oral",
             "start": "2020-02-01", "stop": "2021-03-04", "indication": None},
        ],
        "tests": [{"name": "血红蛋白", "date": "2021-03-06", "value": "85", "unit": "g/L",
                   "low": "115", "high": "150"}],
        "dechallenge": {"belimumab": "yes", "prednisone": "unknown"},
        "rechallenge": {"belimumab": "na"},
    }  # fmt: skip
    assert stored[third] == {
        "reporter_name": "李娜", "reporter_qualification": "2", "reporter_country": "CN",
        "reporter_contact": "li.na@example.cn", "hosp_admit_date": "2021-03-05",
        "hosp_discharge_date": None, "death_date": "2021-03-06", "death_cause": "过敏性休克",
        "autopsy": "Y", "autopsy_cause": "过敏性休克，喉头水肿",
        "medical_history": [], "conmeds": [], "tests": [], "dechallenge": {}, "rechallenge": {},
    }  # fmt: skip
    with read_session(env.engine) as s:
        audit = list(s.exec(select(AuditEntry).where(AuditEntry.entity_type == "sae_case")
                            .order_by(AuditEntry.id)))  # fmt: skip
        rows = {r.event_id: r for r in s.exec(select(SaeCase))}
    # One audit entry per case, created by the uploader, each naming its event.
    assert [(a.entity_id, a.action, a.actor) for a in audit] == [
        (str(second), "create", "admin"), (str(third), "create", "admin")]  # fmt: skip
    assert audit[0].changes["reporter_name"] == [None, "张伟 医生"]
    assert rows[second].version == 1 and rows[second].study_id == env.study_id


def test_an_investigator_uploads_case_data_for_their_own_site(upload_study):
    env = upload_study
    with write_session(env.engine) as s:
        site = s.get(Site, env.site1_id)
        user = create_user(session=s, actor=Actor.system("tests"), username="inv-case",
                           role="investigator", sites=[site], full_name="Inv")  # fmt: skip
        actor = Actor(username=user.username, user_id=user.id, role="investigator")
    sheets = {"CONMEDS": [["AE_ROW", "NAME", "DOSE", "UNIT"], [2, "对乙酰氨基酚", "500", "mg"]]}
    result = upload(env, workbook([serious(env.subject("0012"))], sheets), actor=actor,
                    site_ids={env.site1_id})  # fmt: skip
    assert result.ok, result.errors
    (event_id,) = result.event_ids
    assert cases(env)[event_id]["conmeds"] == [
        {"name": "对乙酰氨基酚", "dose": 500, "unit": "mg", "route": None, "start": None,
         "stop": None, "indication": None}]  # fmt: skip


# --- errors: sheet, row, column ----------------------------------------------------------


def test_every_problem_names_its_sheet_row_and_column_and_nothing_is_stored(upload_study):
    env = upload_study
    sheets = {
        "SAE_CASE": [
            ["AE_ROW", "REPORTER_COUNTRY", "DEATH_DATE"],
            [2, "CN", None],  # row 2 of AE is not serious
            [99, "CN", None],  # no such AE row
            [3, "ZZ", None],  # not a country
            [3, "CN", None],  # a second row for the same event
            ["x", "CN", None],  # not a row number
            [None, "CN", None],  # no event named
            [3.5, None, None],
        ],
        "MEDICAL_HISTORY": [
            ["AE_ROW", "TERM", "START", "ONGOING"],
            [3, None, "2015", "maybe"],
        ],
        "CONMEDS": [
            ["AE_ROW", "NAME", "DOSE", "UNIT", "START", "STOP"],
            [3, "羟氯喹", "two", "mg", None, None],
            [3, "aspirin", "100", None, "2021-02", "2021-01"],
        ],
        "CHALLENGE": [
            ["AE_ROW", "DRUG", "DECHALLENGE"],
            [3, "aspirin", "yes"],
            [3, "belimumab", "perhaps"],
            [3, "BELIMUMAB", "no"],
        ],
        "TESTS": [
            ["USUBJID", "AESPID", "NAME", "VALUE"],
            [env.subject("007"), "SP-404", "ALT", "40"],
            [env.subject("007"), "SP-2", "ALT", "40"],
        ],
    }
    ae = _ae(env)[:2]
    result = upload(env, workbook(ae, sheets))
    assert result.stored == 0 and event_ids(env) == [] and cases(env) == {}
    got = [(e.sheet, e.row, e.column, e.value) for e in result.errors]
    assert got == [
        ("SAE_CASE", 2, "AE_ROW", "2"),
        ("SAE_CASE", 3, "AE_ROW", "99"),
        ("SAE_CASE", 4, "REPORTER_COUNTRY", "ZZ"),
        ("SAE_CASE", 5, "AE_ROW", "3"),
        ("SAE_CASE", 6, "AE_ROW", "x"),
        ("SAE_CASE", 7, "AE_ROW", ""),
        ("SAE_CASE", 8, "AE_ROW", "3.5"),
        ("MEDICAL_HISTORY", 2, "TERM", ""),
        ("MEDICAL_HISTORY", 2, "ONGOING", "maybe"),
        ("CONMEDS", 2, "DOSE", "two"),
        ("CONMEDS", 3, "UNIT", ""),
        ("CONMEDS", 3, "STOP", "2021-01"),
        ("TESTS", 2, "AESPID", "SP-404"),
        ("CHALLENGE", 2, "DRUG", "aspirin"),
        ("CHALLENGE", 3, "DECHALLENGE", "perhaps"),
        ("CHALLENGE", 4, "DRUG", "BELIMUMAB"),
    ]
    reasons = {(e.sheet, e.row): e.reason for e in result.errors}
    assert reasons[("SAE_CASE", 2)] == (
        "the event on row 2 of sheet AE is not serious: case data is kept only for a serious "
        "event (AESER = Y)")  # fmt: skip
    assert reasons[("SAE_CASE", 3)] == (
        "names no event of the upload: give the number of a data row of sheet AE"
    )
    assert reasons[("SAE_CASE", 4)].startswith("'ZZ' is not an ISO 3166-1 alpha-2 country code")
    assert reasons[("SAE_CASE", 5)] == (
        "the event has a row on this sheet already (row 4): one row per event"
    )
    assert reasons[("SAE_CASE", 7)] == (
        "name the event: its row number on sheet AE in AE_ROW, or its USUBJID and AESPID"
    )
    assert reasons[("TESTS", 2)] == (
        "names no event of the upload (no row of sheet AE has this USUBJID and AESPID)"
    )
    assert reasons[("CHALLENGE", 2)] == "'aspirin' is not a study drug (belimumab, prednisone)"
    assert reasons[("CHALLENGE", 4)] == (
        "the event has a row for this drug already (row 3): one row per event and drug"
    )
    # In the report the column names its sheet (SHEET!COLUMN, as a spreadsheet writes a cell
    # of another sheet); the rows of sheet AE keep their column names alone.
    from pv.imports.spreadsheet import error_report_csv

    lines = list(csv.reader(io.StringIO(error_report_csv(result.errors).decode("utf-8-sig"))))
    assert lines[0] == ["row", "column", "value", "reason"]
    assert lines[1][:3] == ["2", "SAE_CASE!AE_ROW", "2"]
    assert lines[3][:3] == ["4", "SAE_CASE!REPORTER_COUNTRY", "ZZ"]


def test_death_details_for_an_event_that_is_not_fatal_name_the_cell(upload_study):
    """The service's own rules reach the cells too: a death date on a serious event that is
    not fatal, a discharge before the admission."""
    env = upload_study
    sheets = {"SAE_CASE": [["AE_ROW", "HOSP_ADMIT_DATE", "HOSP_DISCHARGE_DATE", "DEATH_DATE"],
                           [2, "2021-03-06", "2021-03-01", "2021-03-07"]]}  # fmt: skip
    result = upload(env, workbook([serious(env.subject("007"))], sheets))
    assert where(result.errors) == [("SAE_CASE", 2, "HOSP_DISCHARGE_DATE"),
                                    ("SAE_CASE", 2, "DEATH_DATE")]  # fmt: skip
    assert result.errors[1].reason.startswith("death details are only for a fatal event")
    assert event_ids(env) == []


def test_a_case_sheet_header_problem_and_an_unknown_sheet_column(upload_study):
    env = upload_study
    sheets = {"CHALLENGE": [["AE_ROW", "DRUGNAME", "DECHALLENGE"], [2, "belimumab", "yes"]],
              "TESTS": [["NAME", "VALUE"], ["ALT", "40"]]}  # fmt: skip
    result = upload(env, workbook([serious(env.subject("007"))], sheets))
    assert [(e.sheet, e.row, e.column, e.reason) for e in result.errors] == [
        ("TESTS", 1, "AE_ROW", "the column is missing (name each row's event by AE_ROW, or by "
                               "USUBJID and AESPID)"),
        ("CHALLENGE", 1, "DRUG", "the column is missing"),  # in the sheet's column order
        ("CHALLENGE", 1, "DRUGNAME", "unknown column (see the template's README)"),
    ]  # fmt: skip
    assert event_ids(env) == []


def test_too_many_items_of_one_event_are_errors_of_their_rows(upload_study):
    env = upload_study
    n = casedata.MAX_ITEMS
    rows = [["AE_ROW", "TERM"]] + [[2, f"condition {i}"] for i in range(n + 2)]
    result = upload(env, workbook([serious(env.subject("007"))], {"MEDICAL_HISTORY": rows}))
    assert where(result.errors) == [("MEDICAL_HISTORY", n + 2, ""), ("MEDICAL_HISTORY", n + 3, "")]
    assert result.errors[0].reason == f"an event may have at most {n} rows on this sheet"
    rows = rows[: n + 1]  # exactly the limit: stored
    result = upload(env, workbook([serious(env.subject("007"))], {"MEDICAL_HISTORY": rows}))
    assert result.ok, result.errors[:3]
    assert len(cases(env)[result.event_ids[0]]["medical_history"]) == n


# --- all or nothing ----------------------------------------------------------------------


def test_an_error_on_sheet_ae_stores_no_case_data_and_a_case_error_no_event(upload_study):
    env = upload_study
    ae = _ae(env)
    ae[0]["AETOXGR"] = "9"  # row 2 of AE is wrong
    result = upload(env, workbook(ae, _full_sheets(env)))
    assert where(result.errors) == [("", 2, "AETOXGR")]
    assert event_ids(env) == [] and cases(env) == {}
    sheets = _full_sheets(env)
    sheets["TESTS"].append([3, "ALT", "2099-01-01", "40", "U/L", None, None])  # future date
    result = upload(env, workbook(_ae(env), sheets))
    assert where(result.errors) == [("TESTS", 3, "DATE")]
    assert event_ids(env) == [] and cases(env) == {}


def test_a_refusal_inside_the_store_rolls_back_the_events_too(upload_study, monkeypatch):
    """The case data is saved in the events' own transaction: when `save_case_data` refuses
    (here made to refuse the second case), the events inserted before are rolled back, and
    the problem names the cell its field came from."""
    env = upload_study
    real = casedata.save_case_data
    calls: list[int] = []

    def refusing(session, actor, event_id, data, **kw):  # type: ignore[no-untyped-def]
        calls.append(event_id)
        if len(calls) == 2:
            f = Findings()
            f.error("reporter_contact", "refused inside the store")
            raise ValidationFailed(f)
        return real(session, actor, event_id, data, **kw)

    monkeypatch.setattr(casedata, "save_case_data", refusing)
    result = upload(env, workbook(_ae(env), _full_sheets(env)))
    assert len(calls) == 2 and result.stored == 0
    assert [(e.sheet, e.row, e.column, e.value, e.reason) for e in result.errors] == [
        ("SAE_CASE", 3, "REPORTER_CONTACT", "li.na@example.cn", "refused inside the store")
    ]
    assert event_ids(env) == [] and cases(env) == {}
    with read_session(env.engine) as s:
        assert list(s.exec(select(AuditEntry).where(
            AuditEntry.entity_type.in_(["sae_case", "adverse_event"])))) == []  # type: ignore[attr-defined]  # fmt: skip
    monkeypatch.setattr(casedata, "save_case_data", real)
    result = upload(env, workbook(_ae(env), _full_sheets(env)))
    assert result.ok and len(cases(env)) == 2


# --- CSV ---------------------------------------------------------------------------------------


def test_a_csv_upload_is_unaffected_and_carries_no_case_data(upload_study):
    env = upload_study
    out = io.StringIO(newline="")
    w = csv.writer(out)
    w.writerow(AE_HEADER)
    for r in _ae(env):
        w.writerow([r.get(h, "") for h in AE_HEADER])
    result = upload(env, out.getvalue().encode("utf-8-sig"), filename="ae.csv")
    assert result.ok and result.stored == 3
    assert cases(env) == {}
    assert [e.sheet for e in result.errors] == []


@pytest.mark.parametrize("name", ["sae_case", " SAE_CASE "])
def test_case_sheet_names_ignore_case_and_spaces(upload_study, name):
    env = upload_study
    sheets = {name: [["AE_ROW", "REPORTER_NAME"], [2, "王芳"]]}
    result = upload(env, workbook([serious(env.subject("007"))], sheets))
    assert result.ok, result.errors
    assert cases(env)[result.event_ids[0]]["reporter_name"] == "王芳"


def test_other_sheets_are_ignored(upload_study):
    env = upload_study
    sheets = {"Notes": [["anything"], ["at all"]], "README": [["x"]]}
    result = upload(env, workbook([serious(env.subject("007"))], sheets))
    assert result.ok and cases(env) == {}


def test_at_most_max_case_events_events_may_carry_case_data(upload_study, monkeypatch):
    """The limit of events with case data in one upload (MAX_CASE_EVENTS, 1,000; here 2):
    each row of a further event is an error naming it."""
    from pv.imports.spreadsheet import case_sheets

    monkeypatch.setattr(case_sheets, "MAX_CASE_EVENTS", 2)
    env = upload_study
    ae = [serious(env.subject(s)) for s in ("0012", "12", "007")]
    sheets = {"SAE_CASE": [["AE_ROW", "REPORTER_NAME"], [2, "a"], [3, "b"], [4, "c"]],
              "TESTS": [["AE_ROW", "NAME"], [2, "ALT"], [4, "ALT"]]}  # fmt: skip
    result = upload(env, workbook(ae, sheets))
    assert [(e.sheet, e.row, e.column, e.reason) for e in result.errors] == [
        ("SAE_CASE", 4, "AE_ROW", "at most 2 events may have case data in one upload; upload "
                                  "the others in another file"),
        ("TESTS", 3, "AE_ROW", "at most 2 events may have case data in one upload; upload the "
                               "others in another file"),
    ]  # fmt: skip
    assert event_ids(env) == []


# --- through the web route --------------------------------------------------------------------

from tests.web.conftest import app_env, world  # noqa: E402, F401
from tests.web.webhelpers import login, upload_and_wait  # noqa: E402


def test_the_web_upload_shows_and_reports_the_sheet_of_each_problem(world):  # noqa: F811
    """The job's errors and the page name SHEET!COLUMN for a case sheet; the CSV report too;
    a valid file stores the events and their case data, and the page says so."""
    usubjid = world.ids["own"][2]
    sheets = {"SAE_CASE": [["AE_ROW", "REPORTER_COUNTRY"], [2, "XX"]]}
    client, csrf = login(world.app, "inv1")
    page = client.get("/upload").text
    assert "SAE_CASE, MEDICAL_HISTORY, CONMEDS, TESTS, CHALLENGE" in page
    _, state, fragment = upload_and_wait(client, csrf, world.study_id, "case.xlsx",
                                         workbook([serious(usubjid)], sheets))  # fmt: skip
    assert state["status"] == "rejected"
    assert [(e["row"], e["column"], e["value"]) for e in state["errors"]] == [
        (2, "SAE_CASE!REPORTER_COUNTRY", "XX")
    ]
    assert "<td>SAE_CASE!REPORTER_COUNTRY</td>" in fragment
    report = list(csv.reader(io.StringIO(client.get(state["report"]).content
                                         .decode("utf-8-sig"))))  # fmt: skip
    assert report[1][:3] == ["2", "SAE_CASE!REPORTER_COUNTRY", "XX"]
    assert report[1][3].startswith("'XX' is not an ISO 3166-1 alpha-2 country code")
    sheets["SAE_CASE"][1][1] = "cn"
    _, state, fragment = upload_and_wait(client, csrf, world.study_id, "case.xlsx",
                                         workbook([serious(usubjid)], sheets))  # fmt: skip
    assert state["status"] == "stored" and state["stored"] == 1
    with read_session(world.engine) as s:
        (row,) = s.exec(select(SaeCase)).all()
        assert row.reporter_country == "CN" and row.updated_by_name == "inv1"


def test_a_case_row_of_an_event_whose_aeser_cannot_be_read_adds_no_derived_error(upload_study):
    env = upload_study
    sheets = {"SAE_CASE": [["AE_ROW", "REPORTER_NAME"], [2, "王芳"]]}
    result = upload(env, workbook([serious(env.subject("007"), AESER="perhaps")], sheets))
    assert [(e.sheet, e.row, e.column) for e in result.errors] == [("", 2, "AESER")]
    assert event_ids(env) == []


def test_a_case_the_uploader_may_not_save_is_an_error_and_stores_nothing(upload_study):
    """save_case_data refuses an investigator who is not at the event's site (here an actor
    without a user, whom `at_site` never places): the refusal names the case's first row and
    the whole upload is rolled back."""
    env = upload_study
    actor = Actor(username="nobody", user_id=None, role="investigator")
    sheets = {"MEDICAL_HISTORY": [["AE_ROW", "TERM"], [2, "哮喘"]]}
    result = upload(env, workbook([serious(env.subject("007"))], sheets), actor=actor)
    assert [(e.sheet, e.row, e.column, e.reason) for e in result.errors] == [
        ("MEDICAL_HISTORY", 2, "", "you may change the case data of your own sites' events only")
    ]
    assert event_ids(env) == [] and cases(env) == {}
