"""Integers in paths, query strings and forms are bounded (1 to 2^31-1): a 20-digit id is a
404 (a page's path) or a 422 (a query, the API), never a 500 (SQLite raised OverflowError on
it, PostgreSQL an out-of-range error). The routes are found by walking the app, so a new
route with an unbounded int parameter fails here."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts

from pv.inputs import INT_MAX
from tests.web.webhelpers import login

BAD = ["99999999999999999999", str(2**31), "-1", "0", "1e3", "١٢", "１２", "0x10"]


def _params(dependant):  # type: ignore[no-untyped-def]
    yield from ((p, "path") for p in dependant.path_params)
    yield from ((p, "query") for p in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _params(sub)


def int_routes(app):  # type: ignore[no-untyped-def]
    """(path, method, {name: where}, {name: (ge, le)}) of every route with an int parameter."""
    out = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        ints, bounds = {}, {}
        for param, where in _params(dependant):
            if param.field_info.annotation is not int:
                continue
            ints[param.name] = where
            ge = next((m.ge for m in param.field_info.metadata if hasattr(m, "ge")), None)
            le = next((m.le for m in param.field_info.metadata if hasattr(m, "le")), None)
            bounds[param.name] = (ge, le)
        for method in sorted(route.methods or ()):
            if ints:
                out.append((route.path, method, ints, bounds))
    return out


def test_every_int_parameter_is_declared_bounded(world):
    routes = int_routes(world.app)
    # event, query, report and subject ids, pages, limits and offsets (HTML and API)
    assert len(routes) >= 20, routes
    for path, method, _, bounds in routes:
        for name, (ge, le) in bounds.items():
            assert ge is not None and ge >= 0, (method, path, name)
            assert le is not None and le <= INT_MAX, (method, path, name)


def _url(path: str, ints: dict[str, str], name: str, value: str) -> tuple[str, dict[str, str]]:
    query = {}
    for other, where in ints.items():
        if where == "query":
            query[other] = value if other == name else "1"
    url = path
    for other, where in ints.items():
        if where == "path":
            url = url.replace("{" + other + "}", value if other == name else "1")
    url = re.sub(r"\{[^}]+\}", "x", url)  # any text path parameter
    return url, query


@pytest.mark.parametrize("value", BAD)
def test_out_of_range_ints_are_404_or_422_never_500(world, value):
    env = world
    admin, csrf = login(env.app, "admin")
    api_headers = env.auth("admin")
    seen = 0
    for path, method, ints, bounds in int_routes(env.app):
        for name, where in ints.items():
            url, query = _url(path, ints, name, value)
            api = path.startswith("/api/")
            if api:
                body = {"version": 1} if method == "PATCH" else None
                r = env.client.request(method, url, params=query, headers=api_headers, json=body)
            else:
                r = admin.request(method, url, params=query, headers={"X-CSRF-Token": csrf},
                                  data={"csrf_token": csrf} if method == "POST" else None,
                                  follow_redirects=False)  # fmt: skip
            label = (method, url, query, r.status_code, r.text[:200])
            assert r.status_code < 500, label
            if value == "0" and bounds[name][0] == 0:
                continue  # an offset may be 0
            expected = 404 if where == "path" and not api else 422
            assert r.status_code == expected, label
            seen += 1
    assert seen >= 20


FORM_IDS = [
    # (user, method, path, form or query values): ids typed in a form or a query as text
    ("officer", "GET", "/review", {"site": "{v}", "arm": "{v}"}),
    ("admin", "POST", "/events", {"subject_id": "{v}", "aeterm": "x"}),
    ("admin", "POST", "/events/{event}", {"version": "{v}", "aeterm": "x", "reason": "r"}),
    ("officer", "POST", "/review/events/{event}/start", {"version": "{v}"}),
    ("admin", "POST", "/admin/rsi", {"drug_id": "{v}", "label": "x"}),
]


@pytest.mark.parametrize("value", ["99999999999999999999", "-1", "١٢", "1e3"])
def test_ids_typed_as_text_are_refused_without_a_500(world, value):
    env = world
    clients = {who: login(env.app, who) for who in ("officer", "admin")}
    event_id = env.ids["own"][1]
    for who, method, path, values in FORM_IDS:
        client, csrf = clients[who]
        url = path.replace("{event}", str(event_id))
        filled = {k: v.replace("{v}", value) for k, v in values.items()}
        if method == "GET":
            r = client.get(url, params=filled)
            assert r.status_code == 200, (url, r.status_code)  # an unknown filter matches none
        else:
            r = client.post(url, data={**filled, "csrf_token": csrf}, follow_redirects=False)
            assert r.status_code in (404, 422), (url, r.status_code, r.text[:200])


def test_a_forged_queue_cursor_with_a_huge_id_is_refused(world):
    import base64
    import json

    officer, _ = login(world.app, "officer")
    raw = json.dumps([1, "2021-01-01T00:00:00", 10**20]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    r = officer.get("/review", params={"cursor": cursor})
    assert r.status_code < 500, r.text[:200]
