"""Notifications (issue 15, point 5): who is told what, in the app and by e-mail through a
real SMTP server on 127.0.0.1, and `pvtracker notify` (retries and the daily digest)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.auth.service import actor_for, disable_user
from pv.cli import main as cli
from pv.db import read_session, write_session
from pv.notify import mail
from pv.notify.digest import write_digests
from pv.notify.models import Notification
from pv.notify.service import render
from pv.review.models import ExpeditedReport
from pv.review.queries import answer_query, open_query
from pv.study.service import add_subject
from tests.notify.conftest import BASE_URL, configure, free_port, start_smtp

API = "/api/v1"
ANAPHYLAXIS = "10002218"
NARRATIVE = "Hypotension twenty minutes into the infusion, adrenaline given."
VERBATIM = "anaphylactic reaction after infusion"
QUESTION = "Please give the exact onset time; the narrative mentions the second infusion."


@pytest.fixture
def env(mail_env):
    with write_session(mail_env.engine) as s:
        for site, subjid in ((mail_env.site1, "0012"), (mail_env.site2, "0201")):
            add_subject(session=s, actor=Actor.system("tests"), study_id=mail_env.study_id,
                        site=site, subjid=subjid, arm=mail_env.arms["BELI+PRED"], sex="F",
                        age=34, consent_date=date(2021, 1, 10))  # fmt: skip
    mail_env.usubjid = f"{mail_env.study_id}-01-0012"
    return mail_env


def body(usubjid: str, **extra: Any) -> dict[str, Any]:
    out = {
        "usubjid": usubjid, "aeterm": VERBATIM, "aelltcd": ANAPHYLAXIS, "aetoxgr": 3,
        "aeser": "Y", "aeshosp": "Y", "aestdtc": "2021-03-02", "aeawaredtc": "2021-03-03",
        "aeout": "RECOVERED/RESOLVED",
        "aerel": {"belimumab": "RELATED", "prednisone": "NOT RELATED"},
        "aeacn": {"belimumab": "DRUG WITHDRAWN", "prednisone": "DOSE NOT CHANGED"},
        "aecontrt": "adrenaline IM", "narrative": NARRATIVE, "confirm_duplicate": True,
    }  # fmt: skip
    out.update(extra)
    return out


def post_event(env, who: str = "inv1", **extra: Any) -> dict[str, Any]:
    r = env.client.post(f"{API}/events", json=body(env.usubjid, **extra), headers=env.auth(who))
    assert r.status_code == 201, r.text
    return r.json()


def rows(env, **where: Any) -> list[Notification]:
    with read_session(env.engine) as s:
        q = select(Notification).order_by(col(Notification.id))
        for k, v in where.items():
            q = q.where(getattr(Notification, k) == v)
        return list(s.exec(q))


def use_db(env, monkeypatch) -> None:
    """`pvtracker` commands in this test work on the test's database, acting as the
    safety officer "officer" (the cron job names one: PV_ACTOR)."""
    from pv.settings import get_settings

    monkeypatch.setenv("PV_DATABASE_URL", env.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PV_ACTOR", "officer")
    get_settings.cache_clear()


def uid(env, name: str) -> int:
    return env.users[name].id


def text_of(msg) -> str:
    return msg.get_content()


def test_a_serious_event_submitted_tells_every_officer_in_app_and_by_email(env) -> None:
    ev = post_event(env)
    found = rows(env, event_id=ev["id"])
    assert {n.user_id for n in found} == {uid(env, "officer"), uid(env, "officer2")}
    assert {n.kind for n in found} == {"serious_event"}
    msgs = env.smtp.wait(2)
    assert sorted(m["To"] for m in msgs) == ["officer2@pv.test", "officer@pv.test"]
    for m in msgs:
        text = text_of(m)
        assert f"{BASE_URL}/review/events/{ev['id']}" in text
        assert env.usubjid in text and "AESEQ 1" in text and "site 01" in text
        assert m["Subject"].startswith("[pv-tracker] New serious adverse event")
        assert m["From"] == "pv-tracker@pv.test"
        # identifiers and links only: no narrative, no verbatim term, no treatment text
        for secret in (NARRATIVE, VERBATIM, "adrenaline", "Anaphylaxis"):
            assert secret not in text and secret not in m["Subject"]
    assert all(n.emailed_at is not None for n in rows(env, event_id=ev["id"]))
    # investigators, DSMB and admins are not told
    assert not rows(env, user_id=uid(env, "inv1")) and not rows(env, user_id=uid(env, "admin"))


def test_non_serious_and_draft_events_tell_nobody_until_submitted_serious(env) -> None:
    mild = post_event(env, aeser="N", aeshosp="N", aeawaredtc=None)
    draft = post_event(env, submit=False)
    assert rows(env) == []
    # the draft is submitted: now the officers are told
    r = env.client.patch(f"{API}/events/{draft['id']}", headers=env.auth("inv1"),
                         json={"version": draft["version"], "submit": True})  # fmt: skip
    assert r.status_code == 200, r.text
    assert {n.user_id for n in rows(env, event_id=draft["id"])} == {
        uid(env, "officer"), uid(env, "officer2")}  # fmt: skip
    # a submitted non-serious event becomes serious on follow-up: told once
    r = env.client.patch(f"{API}/events/{mild['id']}", headers=env.auth("inv1"),
                         json={"version": mild["version"], "aeser": "Y", "aeshosp": "Y",
                               "aetoxgr": 3, "aeawaredtc": "2021-03-05",
                               "reason": "hospitalised"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert len(rows(env, event_id=mild["id"])) == 2
    # a further follow-up of the serious event tells nobody again
    v = r.json()["version"]
    r = env.client.patch(f"{API}/events/{mild['id']}", headers=env.auth("inv1"),
                         json={"version": v, "aeendtc": "2021-03-20",
                               "reason": "end date"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert len(rows(env, event_id=mild["id"])) == 2
    env.smtp.wait(4)
    assert len(env.smtp.messages) == 4


def test_a_disabled_officer_is_not_told(env) -> None:
    with write_session(env.engine) as s:
        from pv.auth.models import User

        disable_user(session=s, actor=Actor.system("tests"), user=s.get(User, uid(env, "officer2")))
    ev = post_event(env)
    assert [n.user_id for n in rows(env, event_id=ev["id"])] == [uid(env, "officer")]


def _raise(env, event_id: int, field: str | None = "aestdtc") -> int:
    with write_session(env.engine) as s:
        from pv.events.models import AdverseEvent

        version = s.get(AdverseEvent, event_id).version
        q = open_query(session=s, actor=actor_for(env.users["officer"]), event_id=event_id,
                       expected_version=version, question=QUESTION, field=field)  # fmt: skip
        return q.id


def test_a_query_tells_the_sites_investigators_and_its_answer_the_officer(env) -> None:
    ev = post_event(env)
    env.smtp.wait(2)
    qid = _raise(env, ev["id"])
    raised = rows(env, kind="query_raised")
    assert [(n.user_id, n.query_id) for n in raised] == [(uid(env, "inv1"), qid)]  # not inv2
    msgs = env.smtp.wait(3)
    inv = env.smtp.to("inv1@pv.test")
    assert len(inv) == 1 and len(msgs) == 3
    text = text_of(inv[0])
    assert f"{BASE_URL}/events/{ev['id']}" in text and env.usubjid in text
    assert "Field: Onset date" in text
    assert "second infusion" not in text  # the question stays in the app
    with write_session(env.engine) as s:
        answer_query(session=s, actor=actor_for(env.users["inv1"]), query_id=qid,
                     answer="Onset 14:20, during the second infusion.")  # fmt: skip
    answered = rows(env, kind="query_answered")
    assert [(n.user_id, n.query_id) for n in answered] == [(uid(env, "officer"), qid)]
    env.smtp.wait(4)
    off = [m for m in env.smtp.to("officer@pv.test") if "answered" in m["Subject"]]
    assert len(off) == 1
    text = text_of(off[0])
    assert f"{BASE_URL}/review/events/{ev['id']}" in text and "14:20" not in text
    assert not env.smtp.to("officer2@pv.test")[1:]  # officer2: only the new SAE


def test_smtp_down_the_request_succeeds_and_pvtracker_notify_sends_it_later(
    env, monkeypatch, capsys
) -> None:
    dead = free_port()  # nothing listens there
    configure(monkeypatch, dead)
    ev = post_event(env)  # 201: the failing server does not fail the report
    mail.wait_idle()
    found = rows(env, event_id=ev["id"])
    assert len(found) == 2 and all(n.emailed_at is None for n in found)
    assert env.smtp.messages == []
    # the server is back (on the dead port): cron runs `pvtracker notify`
    controller, server = start_smtp(dead)
    try:
        use_db(env, monkeypatch)
        assert cli(["notify"]) == 0
        out = capsys.readouterr().out
        assert "2 e-mails sent" in out
        assert sorted(m["To"] for m in server.messages) == ["officer2@pv.test", "officer@pv.test"]
        assert f"{BASE_URL}/review/events/{ev['id']}" in text_of(server.messages[0])
        assert all(n.emailed_at is not None for n in rows(env, event_id=ev["id"]))
        # idempotent: nothing is sent twice
        assert cli(["notify"]) == 0
        assert "0 e-mails sent" in capsys.readouterr().out
        assert len(server.messages) == 2
    finally:
        controller.stop()


def test_smtp_down_pvtracker_notify_exits_0_and_keeps_them_for_the_next_run(
    env, monkeypatch, capsys
) -> None:
    configure(monkeypatch, free_port())
    post_event(env)
    mail.wait_idle()
    use_db(env, monkeypatch)
    assert cli(["notify"]) == 0
    assert "2 e-mails failed; the next run retries them" in capsys.readouterr().out
    assert all(n.emailed_at is None for n in rows(env))


def test_without_smtp_notifications_are_in_app_only(env, monkeypatch, capsys) -> None:
    monkeypatch.delenv("PV_SMTP_HOST")
    from pv.settings import get_settings

    get_settings.cache_clear()
    ev = post_event(env)
    assert len(rows(env, event_id=ev["id"])) == 2
    use_db(env, monkeypatch)
    assert cli(["notify"]) == 0
    assert "in-app only" in capsys.readouterr().out
    assert env.smtp.messages == []


# --- the digest -------------------------------------------------------------------------


def _report(env, event_id: int, due: date, kind: str = "initial_15") -> None:
    with write_session(env.engine) as s:
        s.add(ExpeditedReport(event_id=event_id, study_id=env.study_id, kind=kind,
                              clock_days=15, start_date=due - timedelta(days=15),
                              due_date=due))  # fmt: skip


def test_the_digest_lists_reports_due_within_48_hours_or_overdue_once_a_day(
    env, monkeypatch, capsys
) -> None:
    soon, later, overdue = post_event(env), post_event(env), post_event(env)
    env.smtp.wait(6)
    today = datetime.now(UTC).date()
    _report(env, soon["id"], today + timedelta(days=1))
    _report(env, later["id"], today + timedelta(days=10))
    _report(env, overdue["id"], today - timedelta(days=3))
    use_db(env, monkeypatch)
    assert cli(["notify", "--study", env.study_id]) == 0
    assert "2 digests written" in capsys.readouterr().out
    digests = rows(env, kind="digest")
    assert {n.user_id for n in digests} == {uid(env, "officer"), uid(env, "officer2")}
    # the sites' 24 h clocks were met by the submissions themselves (sent, late): not listed
    items = digests[0].params["items"]
    assert [(i["event"], i["kind"], i["overdue"]) for i in items] == [
        (overdue["id"], "initial_15", True), (soon["id"], "initial_15", False)]  # fmt: skip
    assert digests[0].params["total"] == 2
    # notifications have no author: the audit trail names the officer who had them written
    with read_session(env.engine) as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.action == "digest")).all()
        assert [(e.actor, e.actor_id, e.entity_type, e.entity_id) for e in entries] == [
            ("officer", uid(env, "officer"), "notification", env.study_id)]  # fmt: skip
        assert sorted(entries[0].changes["notifications"][1]) == sorted(d.id for d in digests)
    msgs = [m for m in env.smtp.wait(8) if "due within 48 hours" in m["Subject"]]
    assert sorted(m["To"] for m in msgs) == ["officer2@pv.test", "officer@pv.test"]
    text = text_of(msgs[0])
    assert f"{BASE_URL}/clocks?study={env.study_id}" in text
    assert f"Event {overdue['id']}, {env.usubjid}: Initial SUSAR report (15 days), overdue " \
           f"since {(today - timedelta(days=3)).isoformat()}" in text  # fmt: skip
    assert f"Event {soon['id']}, {env.usubjid}: Initial SUSAR report (15 days), due " \
           f"{(today + timedelta(days=1)).isoformat()}" in text  # fmt: skip
    assert f"Event {later['id']}," not in text  # due in 10 days
    assert msgs[0]["Content-Language"] == "en"
    assert NARRATIVE not in text and VERBATIM not in text
    # once a day: a second run writes and sends no second digest
    assert cli(["notify"]) == 0
    assert "0 digests written" in capsys.readouterr().out
    assert len(rows(env, kind="digest")) == 2
    assert len([m for m in env.smtp.messages if "due within 48 hours" in m["Subject"]]) == 2
    # the next day: a new one
    with write_session(env.engine) as s:
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert len(write_digests(s, study_id=env.study_id, now=tomorrow)) == 2


def test_no_urgent_report_no_digest(env, monkeypatch, capsys) -> None:
    ev = post_event(env, aeser="N", aeshosp="N", aeawaredtc=None)
    _report(env, ev["id"], datetime.now(UTC).date() + timedelta(days=10))
    use_db(env, monkeypatch)
    assert cli(["notify"]) == 0
    assert "0 digests written" in capsys.readouterr().out
    assert rows(env, kind="digest") == []


def test_notify_refuses_an_unknown_study(env, monkeypatch, capsys) -> None:
    use_db(env, monkeypatch)
    assert cli(["notify", "--study", "NCT00000000"]) == 2
    assert "no study 'NCT00000000'" in capsys.readouterr().err


# --- addresses --------------------------------------------------------------------------


def test_notify_email_sets_and_clears_an_address(env, monkeypatch, capsys) -> None:
    use_db(env, monkeypatch)
    # someone else's address: an admin's act; one's own: any active user's
    assert cli(["notify-email", "officer2", "safety@example.org"]) == 2
    assert "may not do this (needs: admin)" in capsys.readouterr().err
    assert cli(["notify-email", "officer2", "safety@example.org", "--as", "admin"]) == 0
    assert cli(["notify-email", "officer2", "not an address", "--as", "admin"]) == 2
    assert "is not an e-mail address" in capsys.readouterr().err
    ev = post_event(env)
    env.smtp.wait(2)
    assert [m["To"] for m in env.smtp.messages if str(ev["id"]) in text_of(m)].count(
        "safety@example.org") == 1  # fmt: skip
    assert cli(["notify-email", "officer", "--clear"]) == 0
    ev2 = post_event(env)
    env.smtp.wait(3)
    got = [m["To"] for m in env.smtp.messages if f"/review/events/{ev2['id']}" in text_of(m)]
    assert got == ["safety@example.org"]  # officer: in-app only now
    assert len(rows(env, event_id=ev2["id"])) == 2


# --- rendering ------------------------------------------------------------------------------


def test_render_uses_identifiers_and_links_only(env) -> None:
    ev = post_event(env)
    qid = _raise(env, ev["id"], field="aerel.belimumab")
    for n in rows(env):
        subject, text, link = render(n)
        assert link.startswith(("/review/events/", "/events/"))
        assert str(ev["id"]) in subject and env.usubjid in subject
        assert NARRATIVE not in text and VERBATIM not in text
    n = rows(env, query_id=qid)[0]
    assert "Field: Relationship to study drug (belimumab)" in render(n)[1]
    assert re.search(r"site 01 of NCT04660565", render(n)[1])
