"""XSS: payloads in every free-text field, stored through the services, rendered on every
page and htmx fragment that shows them. Parsed with lxml: 0 injected elements or
attributes, the payload shown as text, and a Content-Security-Policy on every HTML page."""

from __future__ import annotations

import lxml.html
import pytest

from pv.auth.service import actor_for, create_user, set_password
from pv.db import write_session
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.review.queries import answer_query, open_query
from pv.study.models import Site
from pv.study.service import add_subject
from tests.web.webhelpers import IRR, PASSWORD, _input, login

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "<svg onload=alert(1)>",
    "{{7*7}}",
    "' onmouseover='x",
    "</textarea><script>alert(2)</script>",
    '<a href="javascript:alert(3)">x</a>',
    "${7*7}<iframe src=javascript:alert(4)>",
    "</title><body onload=alert(5)>",
    "<style>@import 'x'</style>",
    '<input autofocus onfocus="alert(6)">',
]
APP_SCRIPTS = {"/vendor/htmx.min.js", "/static/app.js"}
URL_ATTRS = ("href", "src", "action", "formaction", "data", "xlink:href", "hx-get", "hx-post")
INV_NAME = '"><img src=x onerror=alert(7)>'
OFF_NAME = "<svg onload=alert(8)>"


def _check_html(html: str, where: str) -> None:
    doc = lxml.html.document_fromstring(html)
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if tag == "script":
            assert el.get("src") in APP_SCRIPTS and not (el.text or "").strip(), where
        assert tag not in ("iframe", "svg", "style", "object", "embed", "base"), (where, tag)
        if tag == "img":  # the app's own charts only
            assert (el.get("src") or "").startswith("/charts/"), (where, el.attrib)
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (where, tag, name, value)
            if name.lower() in URL_ATTRS:
                assert not value.strip().lower().startswith("javascript:"), (where, name, value)


@pytest.fixture
def xss(world):
    env = world
    with write_session(env.engine) as s:
        site1 = s.get(Site, env.site1.id)
        inv = create_user(session=s, actor=actor_for(env.users["admin"]), username=INV_NAME,
                          role="investigator", sites=[site1], full_name=PAYLOADS[0])  # fmt: skip
        off = create_user(session=s, actor=actor_for(env.users["admin"]), username=OFF_NAME,
                          role="officer", full_name=PAYLOADS[1])  # fmt: skip
        for user in (inv, off):
            set_password(session=s, actor=actor_for(user), user=user, password=PASSWORD)
        inv_actor, off_actor = actor_for(inv), actor_for(off)
    events = []
    for i, payload in enumerate(PAYLOADS):
        with write_session(env.engine) as s:
            # SUBJID is an identifier (pv.inputs: letters, digits, . _ -): a payload cannot be
            # one (tests/security/test_input_corpus.py), so it goes in the free text only.
            subject = add_subject(
                session=s, actor=inv_actor, study_id=env.study_id, site=s.get(Site, env.site1.id),
                subjid=f"XSS-{i:02d}", arm=env.arms["BELI+PRED"],
            )  # fmt: skip
            data = EventInput(**{**_input(IRR), "aeterm": payload, "aecontrt": payload,
                                 "narrative": payload})  # fmt: skip
            event, _ = create_event(session=s, actor=inv_actor, subject=subject, data=data,
                                    submit=True)  # fmt: skip
            events.append((event.id, subject.id))
        with write_session(env.engine) as s:
            query = open_query(session=s, actor=off_actor, event_id=event.id,
                               expected_version=event.version, question=payload,
                               field="aeterm")  # fmt: skip
            s.flush()
            query_id = query.id
        if i % 2 == 0:
            with write_session(env.engine) as s:
                answer_query(session=s, actor=inv_actor, query_id=query_id, answer=payload)
    env.xss_events = events
    return env


def _pages(event_ids: list[int], *, officer: bool) -> list[tuple[str, bool]]:
    """(path, as htmx fragment) for every page and fragment that shows the stored text."""
    common = [("/", False), ("/events", False), ("/events?q=script", True), ("/events", True),
              ("/subjects", False), ("/subjects", True), ("/queries", False),
              ("/queries?status=all", True), ("/clocks", False), ("/clocks", True)]  # fmt: skip
    if officer:
        common += [("/review", False), ("/review?include_drafts=1", True)]
    for eid in event_ids:
        common += [(f"/events/{eid}", False), (f"/events/{eid}/history", True),
                   (f"/events/{eid}/history", False), (f"/events/{eid}/queries", False),
                   (f"/events/{eid}/queries", True)]  # fmt: skip
        if not officer:  # the edit form is the investigator's
            common.append((f"/events/{eid}/edit", False))
        else:
            expectedness = f"/review/events/{eid}/expectedness?awareness_date=2021-03-05"
            common += [(f"/review/events/{eid}", False), (expectedness, True)]
    return common


@pytest.mark.parametrize("who", [INV_NAME, OFF_NAME])
def test_no_payload_is_injected_on_any_page_or_fragment(xss, who):
    client, _ = login(xss.app, who)
    event_ids = [eid for eid, _ in xss.xss_events]
    rendered, shown = 0, {p: 0 for p in PAYLOADS}
    for path, fragment in _pages(event_ids, officer=who == OFF_NAME):
        r = client.get(path, headers={"HX-Request": "true"} if fragment else {})
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html"), path
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, path
        html = r.text
        _check_html(html if not fragment else f"<html><body>{html}</body></html>", path)
        for p in PAYLOADS:
            if any(c in p for c in "<>\"'"):
                assert p not in html, (path, p)  # never verbatim: always escaped
        text = lxml.html.document_fromstring(f"<html><body>{html}</body></html>").text_content()
        for p in PAYLOADS:
            shown[p] += p in text
        rendered += 1
    assert rendered >= 80
    # every payload reached the pages, shown as inert text ("{{7*7}}" literally, not 49)
    assert all(shown.values()), shown


def test_html_error_and_login_pages_carry_the_csp(xss):
    client, _ = login(xss.app, "inv1")
    for path in ("/events/999999", "/login", "/upload"):
        r = client.get(path)
        assert r.headers["content-type"].startswith("text/html"), path
        assert "default-src 'self'" in r.headers["content-security-policy"], path
