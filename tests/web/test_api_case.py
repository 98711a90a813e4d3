"""The SAE case data in the JSON API: GET/PUT /api/v1/events/{id}/sae-case (pv.web.api_case).

Authentication and site scoping as the event API (tests/web/test_api.py): bearer token, 401
without, 403 for DSMB, 404 for another site's event (or a draft, to an officer); 422 lists
every problem with its field; 409 a stale version with the stored data as `current`; 423 a
locked event."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from pv.audit.models import AuditEntry
from pv.db import read_session
from pv.icsr.casedata import CASE_SCALARS
from pv.icsr.models import SaeCase
from tests.icsr.test_casedata import FULL, FULL_CLEAN, build_cases
from tests.web.conftest import app_env  # noqa: F401

DRUG_KEYS = ["belimumab", "prednisone"]  # the arm BELI+PRED's drugs, by name


@pytest.fixture
def env(app_env):  # noqa: F811
    app_env.ids = build_cases(app_env)
    return app_env


def url(env: Any, event: str | int) -> str:
    event_id = env.ids[event] if isinstance(event, str) else event
    return f"/api/v1/events/{event_id}/sae-case"


def put(env: Any, who: str, event: str | int, body: Any) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    headers = {**env.auth(who), "content-type": "application/json"}
    return env.client.put(url(env, event), content=raw, headers=headers)


def counts(env: Any) -> tuple[int, int]:
    with read_session(env.engine) as s:
        return (s.exec(select(func.count()).select_from(SaeCase)).one(),
                s.exec(select(func.count()).select_from(AuditEntry)).one())  # fmt: skip


def test_get_before_anything_is_stored(env):
    r = env.client.get(url(env, "sae"), headers=env.auth("inv1"))
    assert r.status_code == 200, r.text
    empty = {name: None for name in CASE_SCALARS} | {
        "medical_history": [],
        "conmeds": [],
        "tests": [],
        "dechallenge": {},
        "rechallenge": {},
    }
    assert r.json() == {"event_id": env.ids["sae"], "version": 0, "drug_keys": DRUG_KEYS,
                        "updated_at": None, "updated_by": None, **empty}  # fmt: skip


def test_round_trip_with_chinese_text(env):
    body = FULL | {"version": 0}
    r = put(env, "inv1", "sae", body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["version"] == 1 and got["updated_by"] == "inv1"
    assert {k: got[k] for k in FULL_CLEAN} == FULL_CLEAN
    again = env.client.get(url(env, "sae"), headers=env.auth("officer")).json()
    assert again == got
    assert again["reporter_name"] == "王医生 (Dr Wang)"
    assert again["medical_history"][0]["term"] == "系统性红斑狼疮"
    # what GET answered can be put back with a change (read-only fields are ignored)
    again["reporter_contact"] = "电话 010-1234 5678"
    r = put(env, "officer", "sae", again)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["reporter_contact"] == "电话 010-1234 5678"
    assert r.json()["updated_by"] == "officer"
    with read_session(env.engine) as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.entity_type == "sae_case")
                         .order_by(AuditEntry.id)).all()  # fmt: skip
    assert [(e.action, e.actor, e.entity_id) for e in entries] == [
        ("create", "inv1", str(env.ids["sae"])),
        ("update", "officer", str(env.ids["sae"])),
    ]
    assert entries[1].changes == {"reporter_contact": ["wang@example.org", "电话 010-1234 5678"],
                                  "version": [1, 2]}  # fmt: skip


def test_put_replaces_the_whole_payload(env):
    assert put(env, "inv1", "sae", FULL).status_code == 200
    r = put(env, "inv1", "sae", {"reporter_name": "only this", "version": 1})
    assert r.status_code == 200
    got = r.json()
    assert got["reporter_name"] == "only this" and got["conmeds"] == [] and got["dechallenge"] == {}


def test_authentication_and_roles(env):
    r = env.client.get(url(env, "sae"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = env.client.get(url(env, "sae"), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    before = counts(env)
    assert env.client.get(url(env, "sae"), headers=env.auth("dsmb")).status_code == 403
    assert put(env, "dsmb", "sae", {"reporter_name": "x"}).status_code == 403
    r = env.client.put(url(env, "sae"), content=json.dumps({"reporter_name": "x"}),
                       headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 401
    assert counts(env) == before


def test_another_sites_event_is_404(env):
    before = counts(env)
    for who, event in (("inv1", "other"), ("inv2", "sae"), ("officer", "draft")):
        r = env.client.get(url(env, event), headers=env.auth(who))
        assert r.status_code == 404 and r.json() == {"detail": "no such event"}, (who, event)
        r = put(env, who, event, {"reporter_name": "x"})
        assert r.status_code == 404 and r.json() == {"detail": "no such event"}, (who, event)
    for event_id in (10**6, 2**31 - 1):
        assert env.client.get(url(env, event_id), headers=env.auth("admin")).status_code == 404
    assert env.client.get(url(env, 2**31), headers=env.auth("admin")).status_code == 422
    assert counts(env) == before
    assert put(env, "inv2", "other", {"reporter_name": "x"}).status_code == 200
    assert put(env, "inv1", "draft", {"reporter_name": "x"}).status_code == 200


def test_422_names_every_problem(env):
    before = counts(env)
    body = {"reporter_country": "XX", "hosp_admit_date": "2021-03-05",
            "hosp_discharge_date": "2021-03-04", "death_date": "2021-03-10",
            "conmeds": [{"name": "x", "dose": -1, "unit": "mg"}],
            "dechallenge": {"aspirin": "yes"}, "colour": "red"}  # fmt: skip
    r = put(env, "inv1", "sae", body)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert all(set(e) == {"field", "message"} for e in errors)
    assert {e["field"] for e in errors} == {
        "colour", "reporter_country", "hosp_discharge_date", "death_date", "conmeds[0].dose",
        "dechallenge.aspirin"}  # fmt: skip
    assert {e["field"]: e["message"] for e in errors}["conmeds[0].dose"] == (
        "the dose must be 0 or more"
    )
    assert counts(env) == before


def test_422_for_an_event_that_is_not_serious(env):
    r = put(env, "inv1", "mild", {})
    assert r.status_code == 422
    assert r.json() == {
        "errors": [{"field": "aeser", "message": "case data is only for a serious event"}]
    }


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"reporter_name": "a", "reporter_name": "b"}', "reporter_name"),  # a repeated key
        ("[1, 2]", "(body)"),
        ('"text"', "(body)"),
        ("{", "(body)"),
        ('{"version": "one"}', "version"),
        ('{"version": -1}', "version"),
        ('{"version": 2147483648}', "version"),
        ('{"conmeds": [{"name": "x", "dose": Infinity, "unit": "mg"}]}', "conmeds[0].dose"),
        ('{"conmeds": [{"name": "x", "dose": NaN, "unit": "mg"}]}', "conmeds[0].dose"),
        ('{"reporter_name": "\\ud800"}', "reporter_name"),
        ('{"\\ud800": 1}', "(body)"),  # pydantic refuses a field name that is no text
        ('{"dechallenge": {"\\u0000\\ud800": "yes"}}', "dechallenge.\\u0000\\ud800"),
    ],
)
def test_bodies_that_are_refused_cleanly(env, raw, field):
    before = counts(env)
    r = put(env, "inv1", "sae", raw)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert counts(env) == before


def test_409_a_stale_version(env):
    assert put(env, "inv1", "sae", FULL | {"version": 0}).status_code == 200
    before = counts(env)
    r = put(env, "officer", "sae", FULL | {"version": 0, "reporter_name": "late"})
    assert r.status_code == 409
    body = r.json()
    assert body["detail"].startswith("the case data changed: it is at version 1, not 0")
    assert body["current"]["version"] == 1
    assert body["current"]["reporter_name"] == "王医生 (Dr Wang)"
    assert counts(env) == before
    # without a version there is no check
    assert put(env, "officer", "sae", FULL | {"reporter_name": "now"}).json()["version"] == 2


def test_423_a_locked_event(env):
    before = counts(env)
    r = put(env, "officer", "locked", {"reporter_name": "x"})
    assert r.status_code == 423 and "locked" in r.json()["detail"]
    assert env.client.get(url(env, "locked"), headers=env.auth("officer")).status_code == 200
    assert counts(env) == before


def test_a_fatal_event_takes_death_details(env):
    death = {"death_date": "2021-05-06", "death_cause": "感染性休克", "autopsy": "y",
             "autopsy_cause": "bacterial pneumonia\r\nwith sepsis"}  # fmt: skip
    r = put(env, "officer", "fatal", death)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in death} == death | {"autopsy": "Y"}


def test_messages_follow_the_request_language(env):
    r = env.client.put(url(env, "sae"), content=json.dumps({"hosp_admit_date": "2999-01-01"}),
                       headers={**env.auth("inv1"), "content-type": "application/json",
                                "accept-language": "zh-Hans"})  # fmt: skip
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["field"] == "hosp_admit_date" and "2999-01-01" in error["message"]
    assert "in the future" not in error["message"]


def test_the_openapi_document(env):
    doc = env.client.get("/openapi.json").json()
    path = doc["paths"]["/api/v1/events/{event_id}/sae-case"]
    assert set(path) == {"get", "put"}
    assert {"200", "401", "403", "404", "409", "422", "423"} <= set(path["put"]["responses"])
    schemas = doc["components"]["schemas"]
    body = schemas["SaeCaseIn"]
    assert body["additionalProperties"] is False
    assert set(body["properties"]) == {"version", *FULL_CLEAN}
    assert body["properties"]["conmeds"]["maxItems"] == 50
    assert set(body["properties"]["conmeds"]["items"]["properties"]) == set(
        FULL_CLEAN["conmeds"][0]
    )
    out = schemas["SaeCaseOut"]
    assert {"event_id", "version", "drug_keys", *FULL_CLEAN} <= set(out["properties"])
