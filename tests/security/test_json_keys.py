"""A JSON body that repeats a key is refused (422 naming the key), at any depth, on every API
route that takes a body; nothing is stored. json.loads alone keeps the last value."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from pv.db import read_session
from pv.events.models import AdverseEvent
from pv.study.models import Subject
from pv.web.json_body import DuplicateKey, loads_strict

API = "/api/v1"


def _count(env, model) -> int:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def _post(env, path: str, raw: str, method: str = "POST"):  # type: ignore[no-untyped-def]
    headers = {**env.auth("inv1"), "content-type": "application/json"}
    return env.client.request(method, f"{API}{path}", content=raw.encode(), headers=headers)


def test_loads_strict():
    assert loads_strict('{"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}') == {
        "a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}  # fmt: skip
    for raw, key in (('{"a": 1, "a": 1}', "a"), ('{"b": {"x": 1, "x": 2}}', "x"),
                     ('[{"y": 1, "y": 2}]', "y")):  # fmt: skip
        try:
            loads_strict(raw)
        except DuplicateKey as exc:
            assert exc.key == key
        else:
            raise AssertionError(raw)


def test_a_repeated_key_is_422_naming_it(world):
    env = world
    usubjid = env.ids["own"][2]
    events, subjects = _count(env, AdverseEvent), _count(env, Subject)
    body = (f'{{"usubjid": "{usubjid}", "aeterm": "rash", "aetoxgr": 1, "aetoxgr": 5, '
            '"submit": false}')  # fmt: skip
    r = _post(env, "/events", body)
    assert r.status_code == 422, r.text
    message = "the key 'aetoxgr' appears twice in one object"
    assert r.json() == {"errors": [{"field": "aetoxgr", "message": message}]}
    nested = (f'{{"usubjid": "{usubjid}", "aeterm": "rash", "submit": false, '
              '"aerel": {"belimumab": "RELATED", "belimumab": "NOT RELATED"}}')  # fmt: skip
    r = _post(env, "/events", nested)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "belimumab"
    subject = (f'{{"study_id": "{env.study_id}", "site": "01", "subjid": "D-1", '
               '"subjid": "D-2"}')  # fmt: skip
    r = _post(env, "/subjects", subject)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "subjid"
    patch = '{"version": 1, "version": 2, "reason": "x"}'
    r = _post(env, f"/events/{env.ids['own'][1]}", patch, method="PATCH")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "version"
    assert (_count(env, AdverseEvent), _count(env, Subject)) == (events, subjects)
    # the same bodies without the repetition are accepted
    r = _post(env, "/events", f'{{"usubjid": "{usubjid}", "aeterm": "rash", "submit": false}}')
    assert r.status_code == 201, r.text
    r = _post(env, "/subjects", f'{{"study_id": "{env.study_id}", "site": "01", "subjid": "D-1"}}')
    assert r.status_code == 201, r.text


def test_invalid_json_is_still_named_as_such(world):
    r = _post(world, "/events", '{"usubjid": ')
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "the body is not valid JSON"
