"""One corpus of bad values, fed to every path that stores them: the JSON API, the web forms,
the spreadsheet upload (`import_upload`, called directly) and the command line. Each path
must refuse each value with the same field and the same message (the rules of
`pv.inputs`), and store nothing (rows counted before and after).

Paths per kind of field:

- event text (AETERM, AETERM_EN, NARRATIVE) and onset date (AESTDTC): API, event form, upload;
- SUBJID, consent date, randomization before consent: API, subject form, `subject add`;
- site id and site name: `site add` (the only path that creates sites).

A lone surrogate cannot travel in a UTF-8 form or file: it is fed to the API (JSON "\\ud800"
escapes carry it) and the CLI only. A NUL character makes the upload refuse the whole file
(the CSV reader's rule, before any field is read; XML cannot hold one): tested as such.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import lxml.html
import pytest
from sqlalchemy import func
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.cli import main
from pv.db import _engines, read_session
from pv.events.models import AdverseEvent
from pv.imports.spreadsheet import import_upload
from pv.settings import get_settings
from pv.study.models import Site, Subject
from tests.web.webhelpers import IRR, login

API = "/api/v1"
# (label, value, what the message must say); every value is refused on every path.
TEXT = [
    ("NUL", "fever\x00chills", "NUL character (U+0000)"),
    ("bell", "fever\x07chills", "control characters (U+0007)"),
    ("escape", "fever\x1b[31m", "control characters (U+001B)"),
    ("C1", "fever\x85chills", "control characters (U+0085)"),
    ("RLO", "fever \u202egnp.exe", "override or isolate characters (U+202E)"),
    ("LRE", "fever \u202ax", "override or isolate characters (U+202A)"),
    ("LRI", "fever \u2066x\u2069", "override or isolate characters (U+2066)"),
    ("PDI", "fever \u2069", "override or isolate characters (U+2069)"),
    ("surrogate", "fever\ud800", "unpaired surrogate"),
    ("10,000 characters", "x" * 10_000, "at most"),
]
NOT_IN_UTF8 = {"surrogate"}  # forms and files are UTF-8: the value cannot travel there
IDENTIFIERS = [
    ("dot-dot", "../x", "is not a valid id"),
    ("formula", "=1+1", "is not a valid id"),
    ("plus", "+1", "is not a valid id"),
    ("at", "@SUM(A1)", "is not a valid id"),
    ("minus", "-1", "is not a valid id"),
    ("slash", "a/b", "is not a valid id"),
    ("space", "a b", "is not a valid id"),
    ("Chinese", "受试者1", "is not a valid id"),
    ("41 characters", "a" * 41, "at most 40 characters"),
    *[(label, value.replace("fever", "S"), says) for label, value, says in TEXT],
]
DATES = [
    ("Arabic-Indic digits", "٢٠٢١-٠٣-١٥", "digits 0-9"),
    ("full-width digits", "２０２１-０３-１５", "digits 0-9"),
    ("Devanagari digits", "२०२१-०३-१५", "digits 0-9"),
    ("mixed digits", "2021-0٣-15", "digits 0-9"),
]
GOOD_TEXT = "发热伴寒战 (fever with chills), 输注后30分钟"  # Chinese stays allowed


# --- the paths --------------------------------------------------------------------------------


def _counts(env) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return tuple(  # type: ignore[return-value]
            s.exec(select(func.count()).select_from(model)).one()
            for model in (AdverseEvent, Subject, Site, AuditEntry)
        )


def _form_errors(html: str) -> dict[str, str]:
    doc = lxml.html.document_fromstring(html)
    return {
        el.get("id")[len("error-") :].replace("-", "."): el.text_content()
        for el in doc.find_class("field-error")
    }


def _event_json(env, **changes: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {
        "usubjid": env.ids["own"][2], "aeterm": IRR["aeterm"], "aelltcd": IRR["aelltcd"],
        "aetoxgr": int(IRR["aetoxgr"]), "aeser": IRR["aeser"], "aestdtc": IRR["aestdtc"],
        "aeendtc": IRR["aeendtc"], "aeout": IRR["aeout"],
        "aerel": {"belimumab": IRR["aerel.belimumab"], "prednisone": IRR["aerel.prednisone"]},
    }  # fmt: skip
    return body | changes


def api_event(env, field: str, value: str, **more: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    # json.dumps escapes a lone surrogate as \\ud800, which is valid JSON
    payload = json.dumps(_event_json(env, **more, **{field: value}))
    r = env.client.post(f"{API}/events", content=payload, headers={
        **env.auth("inv1"), "content-type": "application/json"})  # fmt: skip
    assert r.status_code in (201, 422), r.text[:300]
    return {} if r.status_code == 201 else {e["field"]: e["message"] for e in r.json()["errors"]}


def form_event(env, field: str, value: str, **more: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    client, csrf = env.inv1
    form = {**IRR, "subject_id": str(env.ids["own"][0]), "action": "submit", "csrf_token": csrf}
    form.update(more)
    form[field] = value
    r = client.post("/events", data=form, follow_redirects=False)
    assert r.status_code in (303, 422), r.text[:300]
    return {} if r.status_code == 303 else _form_errors(r.text)


UPLOAD_COLUMNS = ["USUBJID", "AETERM", "AELLTCD", "AETOXGR", "AESER", "AESTDTC", "AEENDTC",
                  "AEOUT", "AEREL_BELIMUMAB", "AEREL_PREDNISONE", "NARRATIVE",
                  "AETERM_EN"]  # fmt: skip


def upload_event(env, field: str, value: str, **more: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    row = {"USUBJID": env.ids["own"][2], "AETERM": IRR["aeterm"], "AELLTCD": IRR["aelltcd"],
           "AETOXGR": IRR["aetoxgr"], "AESER": IRR["aeser"], "AESTDTC": IRR["aestdtc"],
           "AEENDTC": IRR["aeendtc"], "AEOUT": IRR["aeout"],
           "AEREL_BELIMUMAB": IRR["aerel.belimumab"],
           "AEREL_PREDNISONE": IRR["aerel.prednisone"], "NARRATIVE": "",
           "AETERM_EN": ""}  # fmt: skip
    row.update({k.upper(): v for k, v in more.items()})
    row[field.upper()] = value
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(UPLOAD_COLUMNS)
    writer.writerow([row[c] for c in UPLOAD_COLUMNS])
    result = import_upload(engine=env.engine, actor=Actor.system("tests"), study_id=env.study_id,
                           site_ids=None, filename="ae.csv",
                           data=out.getvalue().encode("utf-8"))  # fmt: skip
    if result.refused is not None:
        return {"(file)": result.refused}
    return {e.column.lower(): e.reason for e in result.errors}


def _subject_json(env, **changes: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"study_id": env.study_id, "site": "01", "subjid": "C-0001", "arm": "PRED",
            "consent_date": "2021-02-01", "randomization_date": "2021-02-03"}  # fmt: skip
    return body | changes


def api_subject(env, **changes: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    payload = json.dumps(_subject_json(env, **changes))
    r = env.client.post(f"{API}/subjects", content=payload, headers={
        **env.auth("inv1"), "content-type": "application/json"})  # fmt: skip
    assert r.status_code in (201, 422), r.text[:300]
    return {} if r.status_code == 201 else {e["field"]: e["message"] for e in r.json()["errors"]}


def form_subject(env, **changes: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    client, csrf = env.inv1
    body = _subject_json(env, **changes)
    form = {"site": str(env.site1.id), "subjid": body["subjid"], "arm": str(env.arms["PRED"].id),
            "consent_date": body["consent_date"],
            "randomization_date": body["randomization_date"], "csrf_token": csrf}  # fmt: skip
    form.update({k: str(body[k]) for k in ("age", "weight_kg") if k in body})
    r = client.post("/subjects", data=form, follow_redirects=False)
    assert r.status_code in (303, 422), r.text[:300]
    return {} if r.status_code == 303 else _form_errors(r.text)


def _cli_problems(err: str) -> dict[str, str]:
    """`error: field: message; field: message` -> {field: message}."""
    assert err.startswith("error: "), err
    out = {}
    for part in err[len("error: ") :].rstrip("\n").split("; "):
        field, _, message = part.partition(": ")
        out[field] = message
    return out


def cli_subject(env, **changes: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    body = _subject_json(env, **changes)
    # As the web and API paths: the investigator of site 01 (inv1) adds the subject.
    code, err = env.cli("subject", "add", "--as", "inv1", "--study", env.study_id,
                        "--site", "01", "--subjid", body["subjid"], "--arm", "PRED",
                        "--consent", body["consent_date"],
                        "--randomized", body["randomization_date"])  # fmt: skip
    return {} if code == 0 else _cli_problems(err)


def cli_site(env, field: str, value: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    values = {"site": "07", "site_name": "Seventh Site Hospital"} | {field: value}
    code, err = env.cli("site", "add", "--as", "admin", "--study", env.study_id,
                        "--id", values["site"], "--name", values["site_name"])  # fmt: skip
    return {} if code == 0 else _cli_problems(err)


EVENT_PATHS: dict[str, Callable[..., dict[str, str]]] = {
    "api": api_event, "form": form_event, "upload": upload_event}  # fmt: skip
SUBJECT_PATHS: dict[str, Callable[..., dict[str, str]]] = {
    "api": api_subject, "form": form_subject, "cli": cli_subject}  # fmt: skip


@pytest.fixture
def env(world, db_url, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    """The web world, logged in as inv1 (site 01), and the CLI on the same database."""
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    get_settings.cache_clear()

    def cli(*args: str) -> tuple[int, str]:
        code = main(list(args))
        return code, capsys.readouterr().err

    world.cli = cli
    world.inv1 = login(world.app, "inv1")
    yield world
    get_settings.cache_clear()
    engine = _engines.pop(db_url, None)
    if engine is not None:
        engine.dispose()


def _same_refusal(env, paths, call, field, says) -> None:  # type: ignore[no-untyped-def]
    before = _counts(env)
    messages = {}
    for name, path in paths.items():
        problems = call(path)
        assert field in problems, (name, field, problems)
        messages[name] = problems[field]
        assert _counts(env) == before, (name, "something was stored")
    assert says in next(iter(messages.values())), messages
    assert len(set(messages.values())) == 1, messages  # the very same message everywhere


# --- the corpus -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["aeterm", "aeterm_en", "narrative"])
@pytest.mark.parametrize(("label", "value", "says"), TEXT, ids=[t[0] for t in TEXT])
def test_event_text(env, field, label, value, says):
    paths = {k: v for k, v in EVENT_PATHS.items() if label not in NOT_IN_UTF8 or k == "api"}
    if label == "NUL":
        # The CSV reader refuses a file holding NUL as a whole, before reading a field (and
        # XML, hence xlsx, cannot hold one): a refusal of the file, not of the field.
        before = _counts(env)
        assert upload_event(env, field, value) == {
            "(file)": "not a CSV file (it contains binary data)"}  # fmt: skip
        assert _counts(env) == before
        paths.pop("upload")
    _same_refusal(env, paths, lambda path: path(env, field, value), field, says)


@pytest.mark.parametrize(("label", "value", "says"), DATES, ids=[d[0] for d in DATES])
def test_event_dates_take_ascii_digits_only(env, label, value, says):
    _same_refusal(env, EVENT_PATHS, lambda path: path(env, "aestdtc", value), "aestdtc", says)


@pytest.mark.parametrize(("label", "value", "says"), IDENTIFIERS, ids=[i[0] for i in IDENTIFIERS])
def test_subjid(env, label, value, says):
    paths = {k: v for k, v in SUBJECT_PATHS.items() if label not in NOT_IN_UTF8 or k != "form"}
    _same_refusal(env, paths, lambda path: path(env, subjid=value), "subjid", says)


@pytest.mark.parametrize(("label", "value", "says"), DATES, ids=[d[0] for d in DATES])
def test_subject_dates_take_ascii_digits_only(env, label, value, says):
    _same_refusal(env, SUBJECT_PATHS, lambda path: path(env, consent_date=value),
                  "consent_date", says)  # fmt: skip


def test_randomization_before_consent(env):
    _same_refusal(env, SUBJECT_PATHS,
                  lambda path: path(env, consent_date="2021-02-03",
                                    randomization_date="2021-02-01"),
                  "randomization_date", "precedes consent")  # fmt: skip


@pytest.mark.parametrize(
    ("field", "bad", "good"), [("age", 121, 120), ("weight_kg", 501, 500), ("weight_kg", 0.5, 1)]
)
def test_age_and_weight_have_one_range_on_the_api_and_the_form(env, field, bad, good):
    """The same bounds (pv.inputs.AGE_RANGE, WEIGHT_KG_RANGE) on both paths."""
    for n, path in enumerate((api_subject, form_subject)):
        before = _counts(env)
        assert field in path(env, subjid=f"R-{field}-{n}", **{field: bad}), path
        assert _counts(env) == before
        assert path(env, subjid=f"R-{field}-{n}", **{field: good}) == {}, path


def test_dates_in_the_future(env):
    _same_refusal(env, SUBJECT_PATHS, lambda path: path(env, consent_date="2999-01-01",
                                                        randomization_date="2999-01-02"),
                  "consent_date", "in the future")  # fmt: skip


@pytest.mark.parametrize(("label", "value", "says"), IDENTIFIERS, ids=[i[0] for i in IDENTIFIERS])
def test_site_id(env, label, value, says):
    if label == "41 characters":
        says = "at most 20 characters"
    _same_refusal(env, {"cli": cli_site}, lambda path: path(env, "site", value), "site", says)


@pytest.mark.parametrize(("label", "value", "says"), TEXT[:-1], ids=[t[0] for t in TEXT[:-1]])
def test_site_name(env, label, value, says):
    _same_refusal(env, {"cli": cli_site}, lambda path: path(env, "site_name", value),
                  "site_name", says)  # fmt: skip


# --- what is allowed stays allowed ------------------------------------------------------------


def test_same_day_randomization_and_chinese_text_are_stored_on_every_path(env):
    """The refusals above are not a path that refuses everything: valid values, Chinese
    text among them, are stored by each path (subjects: API, form, CLI; events: API, form)."""
    for n, (name, path) in enumerate(SUBJECT_PATHS.items()):
        before = _counts(env)[1]
        assert path(env, subjid=f"OK-{n}.{name}_1", consent_date="2021-02-01",
                    randomization_date="2021-02-01") == {}, name  # fmt: skip
        assert _counts(env)[1] == before + 1, name
    for n, name in enumerate(("api", "form")):  # onsets differ: no duplicate events
        before = _counts(env)[0]
        more = {"aestdtc": f"2021-05-0{n + 1}", "aeendtc": "2021-12-01"}
        assert EVENT_PATHS[name](env, "aeterm", GOOD_TEXT, **more) == {}, name
        lines = "第一行\r\n第二行\twith a tab"
        more = {"aestdtc": f"2021-06-0{n + 1}", "aeendtc": "2021-12-01"}
        assert EVENT_PATHS[name](env, "narrative", lines, **more) == {}, name
        assert _counts(env)[0] == before + 2, name
    with read_session(env.engine) as s:
        terms = s.exec(select(AdverseEvent.aeterm)).all()
    assert terms.count(GOOD_TEXT) == 2


def test_the_upload_stores_chinese_text(env):
    before = _counts(env)[0]
    assert upload_event(env, "aeterm", GOOD_TEXT, aestdtc="2021-07-01", aeendtc="2021-12-01") == {}
    assert _counts(env)[0] == before + 1


# --- the reason for a change (a submitted event: API PATCH and the edit form) -----------------


def api_reason(env, value: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    event_id = env.ids["own"][1]
    payload = json.dumps({"version": 1, "aetoxgr": 1, "reason": value})
    r = env.client.patch(f"{API}/events/{event_id}", content=payload, headers={
        **env.auth("inv1"), "content-type": "application/json"})  # fmt: skip
    assert r.status_code in (200, 422), r.text[:300]
    return {} if r.status_code == 200 else {e["field"]: e["message"] for e in r.json()["errors"]}


def form_reason(env, value: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    client, csrf = env.inv1
    form = {**IRR, "aetoxgr": "1", "version": "1", "reason": value, "csrf_token": csrf}
    r = client.post(f"/events/{env.ids['own'][1]}", data=form, follow_redirects=False)
    assert r.status_code in (303, 422), r.text[:300]
    return {} if r.status_code == 303 else _form_errors(r.text)


@pytest.mark.parametrize(("label", "value", "says"), TEXT, ids=[t[0] for t in TEXT])
def test_reason_for_a_change(env, label, value, says):
    paths = {"api": api_reason, "form": form_reason}
    if label in NOT_IN_UTF8:
        paths.pop("form")
    with read_session(env.engine) as s:
        version = s.get(AdverseEvent, env.ids["own"][1]).version
    _same_refusal(env, paths, lambda path: path(env, value), "reason", says)
    with read_session(env.engine) as s:
        assert s.get(AdverseEvent, env.ids["own"][1]).version == version


# --- dates in query strings and command options -----------------------------------------------


@pytest.mark.parametrize("value", ["٢٠٢١-١٢-٣١", "２０２１-１２-３１", "20211231", "2021-W52-5"])
def test_cutoff_dates_take_yyyy_mm_dd_in_ascii_digits(env, value):
    officer, _ = login(env.app, "officer")
    r = officer.get("/reports", params={"study": env.study_id, "table": "AET01", "cutoff": value})
    assert r.status_code == 422 and "is not a date" in r.text, r.status_code
    r = env.client.get(f"{API}/tables/AET01", params={"study": env.study_id, "cutoff": value},
                       headers=env.auth("officer"))  # fmt: skip
    assert r.status_code == 422, r.text[:200]
    code, err = env.cli("tables", "--study", env.study_id, "--table", "AET01", "--cutoff", value)
    assert code == 2 and "YYYY-MM-DD" in err
    ok = officer.get("/reports", params={"study": env.study_id, "table": "AET01",
                                         "cutoff": "2021-12-31"})  # fmt: skip
    assert ok.status_code == 200


# --- the CLI's SDTM import: a sponsor's datasets (lengths are the sponsor's; see README) -----


def _sdtm_files(tmp_path, aeterm: str) -> list[str]:  # type: ignore[no-untyped-def]
    tables = {
        "dm": [["STUDYID", "USUBJID", "ARM", "ARMCD", "SITEID"],
               ["X1", "A1", "Drug X", "DRX", "701"], ["X1", "P1", "Placebo", "PBO", "702"]],
        "ex": [["USUBJID", "EXTRT", "EXDOSE", "EXDOSU", "EXSTDTC"],
               ["A1", "DRUG X", "10", "mg", "2021-03-01"], ["P1", "PLACEBO", "0", "mg",
                                                           "2021-03-02"]],
        "ae": [["USUBJID", "AESEQ", "AETERM", "AEDECOD", "AEBODSYS", "AESTDTC"],
               ["A1", "1", aeterm, "Headache", "NERV", "2021-03-05"]],
    }  # fmt: skip
    args = []
    for name, rows in tables.items():
        path = tmp_path / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
        args += [f"--{name}", str(path)]
    return args


SDTM_TEXT = [t for t in TEXT if t[0] not in NOT_IN_UTF8 and t[0] != "10,000 characters"]


@pytest.mark.parametrize(("label", "value", "says"), SDTM_TEXT, ids=[t[0] for t in SDTM_TEXT])
def test_cli_sdtm_import(env, tmp_path, label, value, says):
    before = _counts(env)
    code, err = env.cli("import", "sdtm", "--as", "admin", *_sdtm_files(tmp_path, value))
    assert code == 2, err
    problems = _cli_problems(err.replace("text that cannot be stored: ", ""))
    message = problems["AE record 1, AETERM"]
    assert says in message
    assert message == upload_event(env, "aeterm", value).get("aeterm", message)  # same words
    assert _counts(env) == before


def test_cli_sdtm_import_keeps_chinese_text(env, tmp_path):
    before = _counts(env)
    code, err = env.cli("import", "sdtm", "--as", "admin",
                        *_sdtm_files(tmp_path, GOOD_TEXT + "\nline two"))  # fmt: skip
    assert code == 0, err
    assert _counts(env)[0] == before[0] + 1


# --- the SAE case data (issue 16): PUT /api/v1/events/{id}/sae-case ---------------------------
# A fatal serious event of the own subject takes every field (death details included). The
# text fields follow the same rule (pv.inputs) as the event's; a list item's field is named
# `conmeds[0].name`. Paths that store case data otherwise (form, upload) may join CASE_PATHS.

CASE_TEXT_FIELDS = ["reporter_name", "reporter_contact", "death_cause", "autopsy_cause",
                    "medical_history[0].term", "conmeds[0].name", "conmeds[0].unit",
                    "tests[0].value", "tests[0].low"]  # fmt: skip
CASE_DATE_FIELDS = ["hosp_admit_date", "death_date", "medical_history[0].start",
                    "conmeds[0].stop", "tests[0].date"]  # fmt: skip
_ITEM_NAMES = {"medical_history": "term", "conmeds": "name", "tests": "name"}


def _case_body(field: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"autopsy": "Y"}  # an autopsy cause needs it
    if "[0]." in field:
        name, key = field.split("[0].")
        item = {_ITEM_NAMES[name]: "x"} | ({"unit": "mg"} if name == "conmeds" else {})
        item[key] = value  # a dose is given with its unit
        body[name] = [item]
    else:
        body[field] = value
    return body


def _case_value(data: dict[str, Any], field: str) -> Any:
    if "[0]." in field:
        name, key = field.split("[0].")
        return data[name][0][key] if data[name] else None
    return data[field]


@pytest.fixture
def case_env(env):  # type: ignore[no-untyped-def]
    from pv.auth.service import actor_for
    from pv.db import write_session
    from pv.events.rules import EventInput
    from pv.events.service import create_event

    with write_session(env.engine) as s:
        subject = s.get(Subject, env.ids["own"][0])
        event, _ = create_event(
            session=s, actor=actor_for(env.users["admin"]), subject=subject,
            data=EventInput(aeterm="septic shock", aelltcd="10040047", aetoxgr=5, aeser=True,
                            aesdth=True, aeout="FATAL", aestdtc="2021-05-01",
                            aeendtc="2021-05-06", narrative="Died.", aeawaredtc="2021-05-01",
                            aerel={"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"}),
            submit=True,
        )  # fmt: skip
        env.case_event = event.id
    return env


def api_case(env, field: str, value: Any) -> dict[str, str]:  # type: ignore[no-untyped-def]
    payload = json.dumps(_case_body(field, value))
    r = env.client.put(f"{API}/events/{env.case_event}/sae-case", content=payload, headers={
        **env.auth("inv1"), "content-type": "application/json"})  # fmt: skip
    assert r.status_code in (200, 422), r.text[:300]
    return {} if r.status_code == 200 else {e["field"]: e["message"] for e in r.json()["errors"]}


CASE_PATHS: dict[str, Callable[..., dict[str, str]]] = {"api": api_case}


@pytest.mark.parametrize("field", CASE_TEXT_FIELDS)
@pytest.mark.parametrize(("label", "value", "says"), TEXT, ids=[t[0] for t in TEXT])
def test_case_data_text(case_env, field, label, value, says):
    env = case_env
    _same_refusal(env, CASE_PATHS, lambda path: path(env, field, value), field, says)
    if field == "reporter_name":  # the very words of the event's rule for the same value
        assert api_case(env, field, value)[field] == api_event(env, "aeterm", value)["aeterm"]


@pytest.mark.parametrize("field", CASE_DATE_FIELDS)
@pytest.mark.parametrize(("label", "value", "says"), DATES, ids=[d[0] for d in DATES])
def test_case_data_dates_take_ascii_digits_only(case_env, field, label, value, says):
    env = case_env
    _same_refusal(env, CASE_PATHS, lambda path: path(env, field, value), field, says)


# JSON values that are not what a field holds, and text that must be stored exactly as sent.
CASE_HOSTILE: list[tuple[str, Any]] = [
    ("huge integer", 10**30), ("huge float", 1.7e308), ("negative", -1), ("zero", 0),
    ("true", True), ("list", ["x"]), ("object", {"x": 1}), ("empty object", {}),
    ("nested", [[[[{"a": [1]}]]]]),
    ("formula", '=HYPERLINK("http://evil.example","x")'), ("html", "<script>alert(1)</script>"),
    ("sql", "'; DROP TABLE sae_case;--"), ("path", "../../etc/passwd"), ("Chinese", GOOD_TEXT),
    ("emoji", "😷🤒 fever"), ("right-to-left with marks", "\u200fحمى\u200e"),
    ("zero-width joiner", "a\u200db"), ("percent", "%(field)s %s %d {0}"),
]  # fmt: skip
CASE_EVERY_FIELD = [*CASE_TEXT_FIELDS, *CASE_DATE_FIELDS, "reporter_qualification",
                    "reporter_country", "autopsy", "conmeds[0].dose",
                    "medical_history[0].ongoing", "dechallenge", "rechallenge",
                    "medical_history", "conmeds", "tests"]  # fmt: skip


@pytest.mark.parametrize("field", CASE_EVERY_FIELD)
def test_case_data_hostile_values_are_refused_or_stored_exactly(case_env, field):
    """Every value is either refused (422 naming the field, nothing stored) or stored and
    read back exactly as sent; text that passes the text rule is stored in a text field."""
    env = case_env
    stored = 0
    for label, value in CASE_HOSTILE:
        before = _counts(env)
        problems = api_case(env, field, value)
        if problems:
            assert any(f == field or f.startswith(field) for f in problems), (label, problems)
            assert _counts(env) == before, label
            continue
        r = env.client.get(f"{API}/events/{env.case_event}/sae-case", headers=env.auth("inv1"))
        assert r.status_code == 200
        got = _case_value(r.json(), field)
        if field in ("dechallenge", "rechallenge", "medical_history", "conmeds", "tests"):
            assert value in ({}, []), (label, got)  # only an empty map or list is accepted
            assert got == value, label
        elif field in ("tests[0].value", "tests[0].low") and not isinstance(value, str):
            assert got == str(value), (label, got)  # a number is kept as its text
        else:
            assert got == value, (label, value, got)
            stored += isinstance(value, str)
    if field in CASE_TEXT_FIELDS:  # each text value of the corpus, no other kind
        texts = [v for _, v in CASE_HOSTILE if isinstance(v, str)]
        assert stored == len(texts), (field, stored)
