"""Schemathesis over /openapi.json against the ASGI app, for each role's API token:
>= 1,000 generated cases in all, 0 server errors, and no stack trace, SQL text or file
path in any response body."""

from __future__ import annotations

import json
import time
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.web.webhelpers import login

ROLES = {"investigator": "inv1", "officer": "officer", "dsmb": "dsmb", "admin": "admin"}
API_EXAMPLES = 20  # per API operation, role and generation mode
PAGE_EXAMPLES = 3  # per HTML route (no session cookie: they only redirect or refuse)
MIN_CASES = 1_000
LEAKS = ("Traceback", "sqlalchemy", "SELECT ", "/work/", "site-packages", '.py"')


def _request_text(case) -> str:
    parts = [case.path_parameters, case.query, case.body, case.headers]
    return json.dumps(parts, default=str, ensure_ascii=False)


def _fuzz(operation, mode, headers, examples, cases, statuses, problems) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        label = f"{case.method} {case.formatted_path}"
        cases[operation.label] += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised: a server error
            problems.append((label, "exception", repr(exc)[:300]))
            return
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            problems.append((label, response.status_code, response.text[:300]))
        body = response.text
        sent = _request_text(case)
        for leak in LEAKS:
            if leak in body and leak not in sent:  # an echo of our own input is no leak
                problems.append((label, response.status_code, f"{leak!r} in body: {body[:300]}"))

    run()


def test_fuzz_the_openapi_schema_for_every_role(world):
    env = world
    schema = schemathesis.openapi.from_asgi("/openapi.json", env.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.path.startswith("/api/v1/events") for op in operations)
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    problems: list[tuple] = []
    started = time.perf_counter()
    for role, user in ROLES.items():
        headers = env.auth(user)
        for op in operations:
            api = op.path.startswith("/api/")
            modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if api else (
                GenerationMode.POSITIVE,)  # fmt: skip
            for mode in modes:
                _fuzz(op, mode, headers, API_EXAMPLES if api else PAGE_EXAMPLES, cases,
                      statuses, problems)  # fmt: skip
        assert cases, role
    elapsed = time.perf_counter() - started
    total = sum(cases.values())
    print(f"\nschemathesis: {total} cases over {len(operations)} operations, "
          f"{len(ROLES)} roles, {elapsed:.1f} s")  # fmt: skip
    print("  responses by status:", dict(sorted(statuses.items())))
    assert total >= MIN_CASES
    assert statuses[200] + statuses[201] > 100  # the tokens work: real answers, not only 4xx
    assert problems == [], "\n".join(map(str, problems))


def test_a_nul_character_in_a_query_parameter_is_a_clear_4xx(world):
    """Found by the fuzzer on PostgreSQL: GET /api/v1/tables/{name}?study=<NUL> was a 500
    (psycopg DataError: text cannot contain NUL bytes); SQLite just finds no such study."""
    env = world
    client = env.client
    for path in ("/api/v1/tables/AET01?study=%00x", "/api/v1/subjects/NCT%00?study=%00"):
        r = client.get(path, headers=env.auth("officer"))
        assert r.status_code in (404, 422), (path, r.status_code, r.text)
        assert "psycopg" not in r.text and "SELECT" not in r.text
    page, _ = login(env.app, "officer")
    r = page.get("/reports?study=%00")
    assert r.status_code in (404, 422) and "psycopg" not in r.text
