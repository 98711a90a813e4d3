"""The JSON API (/api/v1): acceptance cases, validation, versions, reasons, roles and scoping."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.study.service import add_subject

if TYPE_CHECKING:
    from tests.web.conftest import AppEnv

API = "/api/v1"
ANAPHYLAXIS = "10002218"
FORBIDDEN_IN_BODIES = ("Traceback", 'File "', "sqlalchemy", "psycopg", "sqlite3", "SELECT ")


@pytest.fixture
def env(app_env: AppEnv) -> AppEnv:
    """The app plus one subject per site: S1 at site 01 (both drugs), S2 at site 02."""
    with write_session(app_env.engine) as session:
        for site, subjid in ((app_env.site1, "0012"), (app_env.site2, "0201")):
            add_subject(session=session, actor=Actor.system("tests"), study_id=app_env.study_id,
                        site=site, subjid=subjid, arm=app_env.arms["BELI+PRED"], sex="F",
                        age=34, consent_date=date(2021, 1, 10))  # fmt: skip
    return app_env


def s1(env: AppEnv) -> str:
    return f"{env.study_id}-01-0012"


def s2(env: AppEnv) -> str:
    return f"{env.study_id}-02-0201"


def anaphylaxis(usubjid: str, **extra: Any) -> dict[str, Any]:
    body = {
        "usubjid": usubjid, "aeterm": "anaphylactic reaction after infusion",
        "aelltcd": ANAPHYLAXIS, "aetoxgr": 3, "aeser": "Y", "aeshosp": "Y",
        "aestdtc": "2021-03", "aeout": "RECOVERED/RESOLVED", "aeongo": "N",
        "aerel": {"belimumab": "RELATED", "prednisone": "NOT RELATED"},
        "aeacn": {"belimumab": "DRUG WITHDRAWN", "prednisone": "DOSE NOT CHANGED"},
        "aecontrt": "adrenaline IM", "narrative": "Hypotension 20 min into the infusion.",
        "aeawaredtc": "2021-03-31",
    }  # fmt: skip
    body.update(extra)
    return body


def post_event(env: AppEnv, who: str = "inv1", **extra: Any) -> Any:
    # The tests post this one event again and again: each post is confirmed as a likely
    # duplicate unless the test says otherwise (the duplicate tests below).
    body = anaphylaxis(s1(env), **{"confirm_duplicate": True, **extra})
    return env.client.post(f"{API}/events", json=body, headers=env.auth(who))


def fields(resp: Any) -> list[str]:
    assert resp.status_code == 422, resp.text
    return [e["field"] for e in resp.json()["errors"]]


def assert_clean(resp: Any) -> None:
    for marker in FORBIDDEN_IN_BODIES:
        assert marker not in resp.text, (resp.status_code, resp.text)


# --- acceptance -----------------------------------------------------------------------------


def test_anaphylaxis_grade_1_is_refused_naming_aetoxgr(env: AppEnv) -> None:
    resp = post_event(env, aetoxgr=1)
    assert fields(resp) == ["aetoxgr"]
    assert "allowed: 3, 4, 5" in resp.json()["errors"][0]["message"]
    assert_clean(resp)


def test_anaphylaxis_grade_3_serious_hospitalization_is_created(env: AppEnv) -> None:
    resp = post_event(env)
    assert resp.status_code == 201, resp.text
    ev = resp.json()
    assert ev["status"] == "submitted" and ev["version"] == 1 and ev["usubjid"] == s1(env)
    assert (ev["aetoxgr"], ev["aeser"], ev["aeshosp"], ev["aesdth"]) == (3, "Y", "Y", "N")
    assert ev["aestdtc"] == "2021-03" and ev["aeawaredtc"] == "2021-03-31"
    assert ev["aedecod"] == "Anaphylaxis" and ev["aebodsys"] == "Immune system disorders"
    assert ev["terminology"] == "CTCAE 5.0"
    assert "hypersensitivity" in ev["aesi"]
    assert ev["related"] is True and ev["drug_withdrawn"] is True
    assert ev["site"] == "01" and ev["arm"] == "BELI+PRED" and ev["warnings"] == []
    got = env.client.get(f"{API}/events/{ev['id']}", headers=env.auth("inv1"))
    assert got.status_code == 200
    assert got.json()["aestdtc"] == "2021-03"
    assert got.json()["aerel"] == {"belimumab": "RELATED", "prednisone": "NOT RELATED"}


def test_investigator_of_another_site_gets_404_and_no_list_entries(env: AppEnv) -> None:
    ev = post_event(env).json()
    for path in (f"/events/{ev['id']}", f"/subjects/{s1(env)}"):
        resp = env.client.get(API + path, headers=env.auth("inv2"))
        assert resp.status_code == 404 and resp.json() == {"detail": resp.json()["detail"]}
    subjects = env.client.get(f"{API}/subjects", headers=env.auth("inv2")).json()
    assert [s["usubjid"] for s in subjects["items"]] == [s2(env)] and subjects["total"] == 1
    events = env.client.get(f"{API}/events", headers=env.auth("inv2")).json()
    assert events == {"total": 0, "limit": 50, "offset": 0, "items": []}
    filtered = env.client.get(f"{API}/events", params={"usubjid": s1(env)},
                              headers=env.auth("inv2"))  # fmt: skip
    assert filtered.json()["items"] == []
    patch = env.client.patch(f"{API}/events/{ev['id']}", headers=env.auth("inv2"),
                             json={"version": 1, "reason": "x", "aetoxgr": 4})  # fmt: skip
    assert patch.status_code == 404
    # Posting an event for the other site's subject: the same answer as for no subject.
    other = env.client.post(f"{API}/events", json=anaphylaxis(s1(env)), headers=env.auth("inv2"))
    unknown = env.client.post(f"{API}/events", json=anaphylaxis("NCT04660565-02-9999"),
                              headers=env.auth("inv2"))  # fmt: skip
    assert fields(other) == fields(unknown) == ["usubjid"]
    assert other.json() == unknown.json()


def test_stale_version_is_409_with_the_current_event(env: AppEnv) -> None:
    ev = post_event(env).json()
    url, auth = f"{API}/events/{ev['id']}", env.auth("inv1")
    first = env.client.patch(url, json={"version": 1, "aetoxgr": 4, "reason": "worsened"},
                             headers=auth)  # fmt: skip
    assert first.status_code == 200, first.text
    stale = env.client.patch(url, json={"version": 1, "aecontrt": "steroids", "reason": "x"},
                             headers=auth)  # fmt: skip
    assert stale.status_code == 409
    body = stale.json()
    assert "version 2" in body["detail"]
    assert body["current"]["version"] == 2 and body["current"]["aetoxgr"] == 4
    assert body["current"]["aecontrt"] == "adrenaline IM"  # nothing of the stale edit stored
    assert env.client.get(url, headers=auth).json()["aecontrt"] == "adrenaline IM"


def test_concurrent_patches_from_one_version_one_wins(env: AppEnv) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ev = post_event(env).json()

    def patch(i: int) -> int:
        body = {"version": 1, "aecontrt": f"treatment {i}", "reason": f"follow-up {i}"}
        return env.client.patch(f"{API}/events/{ev['id']}", json=body,
                                headers=env.auth("inv1")).status_code  # fmt: skip

    with ThreadPoolExecutor(10) as pool:
        codes = sorted(pool.map(patch, range(10)))
    assert codes == [200] + [409] * 9
    assert env.client.get(f"{API}/events/{ev['id']}", headers=env.auth("inv1")).json()[
        "version"] == 2  # fmt: skip


# --- likely duplicates (issue 12.5) ---------------------------------------------------------


def _count_events(env: AppEnv) -> int:
    resp = env.client.get(f"{API}/events", headers=env.auth("admin"))
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def test_the_same_event_posted_twice_is_409_naming_the_stored_one(env: AppEnv) -> None:
    first = post_event(env, confirm_duplicate=False)
    assert first.status_code == 201, first.text
    again = post_event(env, confirm_duplicate=False, aeterm="anaphylaxis", aetoxgr=4)
    assert again.status_code == 409, again.text
    body = again.json()
    assert body["duplicate_of"] == [first.json()["id"]]
    assert "AESEQ 1" in body["detail"] and "confirm_duplicate" in body["detail"]
    assert_clean(again)
    assert _count_events(env) == 1  # nothing stored
    # Left out, the flag is false: the same answer.
    body = anaphylaxis(s1(env))
    plain = env.client.post(f"{API}/events", json=body, headers=env.auth("inv1"))
    assert plain.status_code == 409 and plain.json()["duplicate_of"] == [first.json()["id"]]
    confirmed = post_event(env, confirm_duplicate=True)
    assert confirmed.status_code == 201 and confirmed.json()["aeseq"] == 2
    third = post_event(env, confirm_duplicate=False, aestdtc="2021-03")
    assert third.json()["duplicate_of"] == [first.json()["id"], confirmed.json()["id"]]
    assert _count_events(env) == 2


def test_a_draft_counts_and_another_day_or_subject_is_not_a_duplicate(env: AppEnv) -> None:
    draft = post_event(env, confirm_duplicate=False, submit=False, aestdtc="2021-03-04")
    assert draft.status_code == 201, draft.text
    dup = post_event(env, confirm_duplicate=False, aestdtc="2021-03-04T17:30")
    assert dup.status_code == 409 and dup.json()["duplicate_of"] == [draft.json()["id"]]
    for extra in ({"aestdtc": "2021-03-05"}, {"aestdtc": "2021-03"}):
        assert post_event(env, confirm_duplicate=False, **extra).status_code == 201
    other = anaphylaxis(s2(env), aestdtc="2021-03-04")
    assert env.client.post(f"{API}/events", json=other,
                           headers=env.auth("inv2")).status_code == 201  # fmt: skip
    assert _count_events(env) == 4
    # The flag must be a boolean (the body is strict about its fields).
    bad = post_event(env, confirm_duplicate="perhaps")
    assert fields(bad) == ["confirm_duplicate"]


def test_the_openapi_document_describes_the_409(env: AppEnv) -> None:
    doc = env.client.get("/openapi.json").json()
    post = doc["paths"][f"{API}/events"]["post"]
    assert "409" in post["responses"]
    assert "confirm_duplicate" in doc["components"]["schemas"]["EventIn"]["properties"]


# --- validation -----------------------------------------------------------------------------


def test_rule_errors_all_at_once_each_naming_its_field(env: AppEnv) -> None:
    resp = post_event(env, aeshosp="N", narrative=None, aeendtc="2021-02-01",
                      aerel={"prednisone": "NOT RELATED"}, aeongo="Y",
                      aeout="RECOVERED/RESOLVED")  # fmt: skip
    got = set(fields(resp))
    assert {"aeser", "narrative", "aeendtc", "aerel.belimumab", "aeongo"} <= got
    for err in resp.json()["errors"]:
        assert set(err) == {"field", "message"} and err["message"]


def test_type_errors_all_at_once_each_naming_its_field(env: AppEnv) -> None:
    resp = post_event(env, aeser="yes", aetoxgr=7, aeout="BETTER", colour="red",
                      aerel={"belimumab": "MAYBE"}, aestdtc=20210301)  # fmt: skip
    assert set(fields(resp)) == {"aeser", "aetoxgr", "aeout", "colour", "aerel.belimumab",
                                 "aestdtc"}  # fmt: skip
    assert_clean(resp)


def test_unknown_field_is_422_naming_it(env: AppEnv) -> None:
    resp = post_event(env, AETERM="upper case is not the API's spelling")
    assert fields(resp) == ["AETERM"]
    resp = env.client.patch(f"{API}/events/1", json={"version": 1, "grade": 2},
                            headers=env.auth("inv1"))  # fmt: skip
    assert fields(resp) == ["grade"]


@pytest.mark.parametrize("value", ["yes", "y", "1", True, 1, ""])
@pytest.mark.parametrize("name", ["aeser", "aesdth", "aeslife", "aeshosp", "aesdisab",
                                  "aescong", "aesmie", "aeongo"])  # fmt: skip
def test_flags_take_only_y_or_n(env: AppEnv, name: str, value: Any) -> None:
    assert fields(post_event(env, **{name: value})) == [name]


def test_text_a_database_cannot_hold_is_refused(env: AppEnv) -> None:
    for value in ("bad\x00term", "x" * 201):
        assert fields(post_event(env, aeterm=value)) == ["aeterm"]
    assert fields(post_event(env, narrative="n" * 4001)) == ["narrative"]
    resp = env.client.get(f"{API}/events", params={"term": "a\x00b"}, headers=env.auth("inv1"))
    assert fields(resp) == ["term"]


def test_partial_dates_kept_as_typed_and_invalid_dates_named(env: AppEnv) -> None:
    ev = post_event(env, aestdtc="2021", aeendtc="2021-03-15T10:30").json()
    assert (ev["aestdtc"], ev["aeendtc"]) == ("2021", "2021-03-15T10:30")
    assert fields(post_event(env, aestdtc="03/2021")) == ["aestdtc"]
    assert fields(post_event(env, aestdtc="2999-01")) == ["aestdtc"]


def test_onset_before_consent_is_a_warning_not_an_error(env: AppEnv) -> None:
    resp = post_event(env, aestdtc="2020-12-24")  # a warning that must be confirmed
    assert resp.status_code == 422 and fields(resp) == ["confirm_before_consent"]
    assert "before informed consent" in resp.json()["errors"][0]["message"]
    resp = post_event(env, aestdtc="2020-12-24", confirm_before_consent=True)
    assert resp.status_code == 201
    assert [w["field"] for w in resp.json()["warnings"]] == ["aestdtc"]
    got = env.client.get(f"{API}/events/{resp.json()['id']}", headers=env.auth("inv1"))
    assert got.json()["warnings"] == resp.json()["warnings"]


def test_paging_limits(env: AppEnv) -> None:
    for _ in range(3):
        post_event(env)
    page = env.client.get(f"{API}/events", params={"limit": 2, "offset": 1},
                          headers=env.auth("inv1")).json()  # fmt: skip
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (3, 2, 1, 2)
    for params in ({"limit": 201}, {"limit": 0}, {"offset": -1}):
        (name,) = params
        resp = env.client.get(f"{API}/events", params=params, headers=env.auth("inv1"))
        assert fields(resp) == [name]


def test_event_filters(env: AppEnv) -> None:
    post_event(env)
    post_event(env, aeterm="headache", aelltcd="10019211", aetoxgr=1, aeser="N", aeshosp="N",
               narrative=None)  # fmt: skip
    draft = {"usubjid": s1(env), "submit": False, "aeterm": "rash", "aeser": "N"}
    env.client.post(f"{API}/events", headers=env.auth("inv1"), json=draft)

    def terms(**params: str) -> list[str]:
        resp = env.client.get(f"{API}/events", params=params, headers=env.auth("inv1"))
        assert resp.status_code == 200, resp.text
        return sorted(e["aeterm"] for e in resp.json()["items"])

    assert terms(serious="Y") == ["anaphylactic reaction after infusion"]
    assert terms(serious="N") == ["headache", "rash"]
    assert terms(term="HEAD") == ["headache"] and terms(term="anaphylaxis") == terms(serious="Y")
    assert terms(status="draft") == ["rash"] and terms(usubjid=s1(env)) == terms()
    assert terms(term="100%") == []
    assert fields(env.client.get(f"{API}/events", params={"status": "gone"},
                                 headers=env.auth("inv1"))) == ["status"]  # fmt: skip


# --- follow-ups, drafts, reasons ------------------------------------------------------------


def test_patch_after_submission_needs_a_reason(env: AppEnv) -> None:
    ev = post_event(env).json()
    url, auth = f"{API}/events/{ev['id']}", env.auth("inv1")
    resp = env.client.patch(url, json={"version": 1, "aeendtc": "2021-04-02"}, headers=auth)
    assert fields(resp) == ["reason"]
    resp = env.client.patch(url, json={"version": 1, "aeendtc": "2021-04-02", "reason": " "},
                            headers=auth)  # fmt: skip
    assert fields(resp) == ["reason"]
    resp = env.client.patch(url, headers=auth, json={
        "version": 1, "aeendtc": "2021-04-02", "reason": "discharge letter received",
        "aerel": {"prednisone": "UNLIKELY RELATED"}})  # fmt: skip
    assert resp.status_code == 200, resp.text
    new = resp.json()
    assert new["version"] == 2 and new["aeendtc"] == "2021-04-02"
    # Unspecified fields keep their stored values; aerel is merged per drug.
    assert new["aerel"] == {"belimumab": "RELATED", "prednisone": "UNLIKELY RELATED"}
    for name in ("aeterm", "aelltcd", "aetoxgr", "aeshosp", "aestdtc", "narrative", "aeacn"):
        assert new[name] == ev[name]
    with read_session(env.engine) as session:
        entry = session.exec(select(AuditEntry).where(
            AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(ev["id"]),
            AuditEntry.action == "update")).one()  # fmt: skip
        assert entry.reason == "discharge letter received"
        assert entry.changes["aeendtc"] == [None, "2021-04-02"]


def test_patch_rule_errors_are_422_and_change_nothing(env: AppEnv) -> None:
    ev = post_event(env).json()
    url, auth = f"{API}/events/{ev['id']}", env.auth("inv1")
    resp = env.client.patch(url, json={"version": 1, "aetoxgr": 2, "reason": "regraded"},
                            headers=auth)  # fmt: skip
    assert fields(resp) == ["aetoxgr"]
    resp = env.client.patch(url, json={"version": 1, "reason": "x", "aerel": {"aspirin": "Y"}},
                            headers=auth)  # fmt: skip
    assert fields(resp) == ["aerel.aspirin"]
    resp = env.client.patch(url, json={"aetoxgr": 4, "reason": "x"}, headers=auth)
    assert fields(resp) == ["version"]
    assert env.client.get(url, headers=auth).json() == ev | {"warnings": []}


def test_draft_then_submit(env: AppEnv) -> None:
    resp = env.client.post(f"{API}/events", headers=env.auth("inv1"), json={
        "usubjid": s1(env), "submit": False, "aeterm": "anaphylaxis?", "aeser": "N"})  # fmt: skip
    assert resp.status_code == 201, resp.text
    draft = resp.json()
    assert draft["status"] == "draft" and draft["aelltcd"] is None
    url, auth = f"{API}/events/{draft['id']}", env.auth("inv1")
    # Officers do not see drafts; the site and admins do.
    assert env.client.get(url, headers=env.auth("officer")).status_code == 404
    assert env.client.get(f"{API}/events", headers=env.auth("officer")).json()["total"] == 0
    assert env.client.get(url, headers=env.auth("admin")).status_code == 200
    # Submitting checks completeness, all at once.
    resp = env.client.patch(url, json={"version": 1, "submit": True}, headers=auth)
    assert {"aelltcd", "aetoxgr", "aestdtc", "aeout", "aerel.belimumab"} <= set(fields(resp))
    full = {k: v for k, v in anaphylaxis(s1(env)).items() if k != "usubjid"}
    resp = env.client.patch(url, json={"version": 1, "submit": True, **full}, headers=auth)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["version"]) == ("submitted", 2)
    assert env.client.get(url, headers=env.auth("officer")).status_code == 200


def test_draft_without_seriousness_answer(env: AppEnv) -> None:
    body = {"usubjid": s1(env), "submit": False, "aeterm": "fever"}
    resp = env.client.post(f"{API}/events", headers=env.auth("inv1"), json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["status"] == "draft"


def test_locked_event_is_423(env: AppEnv) -> None:
    ev = post_event(env).json()
    with write_session(env.engine) as session:
        row = session.get(AdverseEvent, ev["id"])
        assert row is not None
        row.status = "locked"
        session.add(row)
    resp = env.client.patch(f"{API}/events/{ev['id']}", headers=env.auth("admin"),
                            json={"version": 1, "aetoxgr": 4, "reason": "late info"})  # fmt: skip
    assert resp.status_code == 423 and "locked" in resp.json()["detail"]


# --- subjects -------------------------------------------------------------------------------


def subject_body(env: AppEnv, **extra: Any) -> dict[str, Any]:
    body = {"study_id": env.study_id, "site": "01", "subjid": "007", "arm": "PRED", "sex": "M",
            "age": 51, "weight_kg": 72.5, "consent_date": "2021-02-01",
            "randomization_date": "2021-02-03"}  # fmt: skip
    return body | extra


def test_investigator_adds_a_subject_to_their_site(env: AppEnv) -> None:
    resp = env.client.post(f"{API}/subjects", json=subject_body(env), headers=env.auth("inv1"))
    assert resp.status_code == 201, resp.text
    subject = resp.json()
    assert subject["usubjid"] == f"{env.study_id}-01-007" and subject["subjid"] == "007"
    assert (subject["site"], subject["arm"], subject["consent_date"]) == ("01", "PRED",
                                                                          "2021-02-01")  # fmt: skip
    got = env.client.get(f"{API}/subjects/{subject['usubjid']}", headers=env.auth("inv1"))
    assert got.json() == subject
    again = env.client.post(f"{API}/subjects", json=subject_body(env), headers=env.auth("inv1"))
    assert again.status_code == 409
    by_label = subject_body(env, subjid="1E5", arm="Combination therapy Group")
    resp = env.client.post(f"{API}/subjects", json=by_label, headers=env.auth("inv1"))
    assert resp.status_code == 201 and resp.json()["arm"] == "BELI+PRED"
    assert resp.json()["subjid"] == "1E5"


def test_another_site_is_an_unknown_site(env: AppEnv) -> None:
    other = env.client.post(f"{API}/subjects", json=subject_body(env, site="02"),
                            headers=env.auth("inv1"))  # fmt: skip
    missing = env.client.post(f"{API}/subjects", json=subject_body(env, site="99"),
                              headers=env.auth("inv1"))  # fmt: skip
    assert fields(other) == fields(missing) == ["site"]
    assert other.json() == missing.json()
    admin = env.client.post(f"{API}/subjects", json=subject_body(env, site="02"),
                            headers=env.auth("admin"))  # fmt: skip
    assert admin.status_code == 201 and admin.json()["site"] == "02"


def test_subject_input_errors(env: AppEnv) -> None:
    body = subject_body(env, arm="placebo", consent_date="2999-01-01",
                        randomization_date="2020-01-01")  # fmt: skip
    resp = env.client.post(f"{API}/subjects", headers=env.auth("inv1"), json=body)
    assert set(fields(resp)) == {"arm", "consent_date", "randomization_date"}
    resp = env.client.post(f"{API}/subjects", headers=env.auth("inv1"), json=subject_body(
        env, subjid="a/b", sex="male", age=-1, ward=3))  # fmt: skip
    assert set(fields(resp)) == {"subjid", "sex", "age", "ward"}
    resp = env.client.post(f"{API}/subjects", headers=env.auth("inv1"),
                           json=subject_body(env, study_id="NCT00000000"))  # fmt: skip
    assert fields(resp) == ["study_id"]


def test_subject_filters(env: AppEnv) -> None:
    def ids(**params: str) -> list[str]:
        resp = env.client.get(f"{API}/subjects", params=params, headers=env.auth("officer"))
        assert resp.status_code == 200, resp.text
        return [s["usubjid"] for s in resp.json()["items"]]

    assert ids() == [s1(env), s2(env)]
    assert ids(site="02") == [s2(env)] and ids(arm="PRED") == []
    assert ids(arm="BELI+PRED", study=env.study_id) == [s1(env), s2(env)]
    assert ids(study="other") == [] and ids(limit="1", offset="1") == [s2(env)]


# --- roles and tokens -----------------------------------------------------------------------

# (method, path, body) with {ev} / {own} placeholders; expected status per user.
READS = [("GET", "/subjects"), ("GET", "/subjects/{own}"), ("GET", "/events"),
         ("GET", "/events/{ev}")]  # fmt: skip
WRITES = [("POST", "/subjects"), ("POST", "/events"), ("PATCH", "/events/{ev}")]
EXPECTED: dict[str, tuple[int, int | dict[str, int]]] = {  # user -> (reads, writes), site 01
    "inv1": (200, {"POST": 201, "PATCH": 200}),
    "inv2": (404, {"POST": 422, "PATCH": 404}),
    "officer": (200, 403),
    "admin": (200, {"POST": 201, "PATCH": 200}),
    "dsmb": (403, 403),
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_role_matrix(env: AppEnv, who: str) -> None:
    reads, writes = EXPECTED[who]
    for method, path in READS + WRITES:
        ev = post_event(env).json()
        url = API + path.format(ev=ev["id"], own=s1(env))
        body: dict[str, Any] | None = None
        if (method, path) == ("POST", "/subjects"):
            body = subject_body(env, subjid=f"{who}-{len(path)}")
        elif method == "POST":  # the event posted above again: a confirmed duplicate
            body = anaphylaxis(s1(env), confirm_duplicate=True)
        elif method == "PATCH":
            body = {"version": 1, "aetoxgr": 4, "reason": "worsened"}
        resp = env.client.request(method, url, json=body, headers=env.auth(who))
        if method == "GET":
            expected = 200 if reads == 404 and path in ("/subjects", "/events") else reads
        else:
            expected = writes[method] if isinstance(writes, dict) else writes
        assert resp.status_code == expected, (who, method, path, resp.text)
        assert_clean(resp)
        if who == "inv2" and method == "GET" and resp.status_code == 200:
            assert s1(env) not in resp.text
    if writes == 403:  # the role is refused before the body is even looked at
        for method, path in WRITES:
            url = API + path.format(ev=1, own=s1(env))
            resp = env.client.request(method, url, json={"bogus": 1}, headers=env.auth(who))
            assert resp.status_code == 403, (who, method, path, resp.text)


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer pvt_not-a-token", "Basic abc",
                                    "bearer "])  # fmt: skip
def test_without_a_valid_token_401(env: AppEnv, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    ev = post_event(env).json()
    for method, path in READS + WRITES:
        url = API + path.format(ev=ev["id"], own=s1(env))
        body: dict[str, Any] | None = {} if method != "GET" else None
        resp = env.client.request(method, url, json=body, headers=headers)
        assert resp.status_code == 401, (method, path, resp.text)
        assert resp.headers["www-authenticate"] == "Bearer"
        assert set(resp.json()) == {"detail"}


def test_disabled_user_token_is_refused(env: AppEnv) -> None:
    from pv.auth.service import disable_user

    with write_session(env.engine) as session:
        disable_user(session=session, actor=Actor.system("tests"), user=env.users["inv1"])
    assert env.client.get(f"{API}/events", headers=env.auth("inv1")).status_code == 401


# --- documentation and error bodies ---------------------------------------------------------


def test_openapi_documents_the_api(env: AppEnv) -> None:
    spec = env.client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths[f"{API}/subjects"])
    assert "get" in paths[f"{API}/subjects/{{usubjid}}"]
    assert {"get", "post"} <= set(paths[f"{API}/events"])
    assert {"get", "patch"} <= set(paths[f"{API}/events/{{event_id}}"])
    post = paths[f"{API}/events"]["post"]
    assert {"201", "401", "403", "422"} <= set(post["responses"])
    assert {"409", "423", "404"} <= set(paths[f"{API}/events/{{event_id}}"]["patch"]["responses"])
    schemas = spec["components"]["schemas"]
    event_in = schemas["EventIn"]
    assert event_in["additionalProperties"] is False
    for name in ("usubjid", "aeterm", "aelltcd", "aetoxgr", "aeser", "aesdth", "aeslife",
                 "aeshosp", "aesdisab", "aescong", "aesmie", "aestdtc", "aeendtc", "aeout",
                 "aerel", "aeacn", "aeongo", "aecontrt", "narrative", "submit"):  # fmt: skip
        assert name in event_in["properties"], name
    assert "version" in schemas["EventPatch"]["required"]
    assert {"id", "version", "status", "aedecod", "aesi", "warnings"} <= set(
        schemas["EventOut"]["properties"])  # fmt: skip
    assert any(s.get("scheme") == "bearer" for s in spec["components"]["securitySchemes"].values())


def test_no_stack_trace_in_error_bodies(env: AppEnv) -> None:
    auth = env.auth("inv1")
    responses = [
        env.client.post(f"{API}/events", content=b"{not json", headers=auth
                        | {"content-type": "application/json"}),
        env.client.post(f"{API}/events", json=[1, 2], headers=auth),
        env.client.post(f"{API}/events", json="text", headers=auth),
        env.client.get(f"{API}/events/abc", headers=auth),
        env.client.get(f"{API}/events/99999999999999999999", headers=auth),
        env.client.get(f"{API}/events/12345", headers=auth),
        env.client.patch(f"{API}/events/12345", json={"version": 1}, headers=auth),
        env.client.patch(f"{API}/events/1", json={"version": 2**40}, headers=auth),
        env.client.get(f"{API}/subjects/nobody", headers=auth),
        env.client.get(f"{API}/events", params={"offset": 10**30}, headers=auth),
        env.client.post(f"{API}/subjects", json={"weight_kg": "NaN"}, headers=auth),
    ]  # fmt: skip
    for resp in responses:
        assert resp.status_code in (404, 422), (resp.request.url, resp.status_code, resp.text)
        assert resp.headers["content-type"] == "application/json"
        assert_clean(resp)
        body = resp.json()
        assert set(body) in ({"detail"}, {"errors"})


def test_a_serious_event_needs_its_awareness_date_and_gets_its_24_hour_clock(env: AppEnv) -> None:
    resp = post_event(env, aeawaredtc=None)
    assert resp.status_code == 422 and fields(resp) == ["aeawaredtc"]
    assert fields(post_event(env, aeawaredtc="31/03/2021")) == ["aeawaredtc"]
    assert fields(post_event(env, aeawaredtc="2021-02-28")) == ["aeawaredtc"]  # before onset
    spec = env.client.get("/openapi.json").json()["components"]["schemas"]
    assert "aeawaredtc" in spec["EventIn"]["properties"]
    assert "confirm_before_consent" in spec["EventIn"]["properties"]
    ok = post_event(env, aeawaredtc="2021-03-31T08:00")
    assert ok.status_code == 201 and ok.json()["aeawaredtc"] == "2021-03-31T08:00"
