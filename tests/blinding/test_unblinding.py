"""Unblinding one subject: reason and password (a signature "unblinded"), stored, audited and
shown on the subject page; the arm is then shown to the unblinding user only."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from pv.audit.models import AuditEntry
from pv.signatures.models import Signature, SubjectUnblinding
from tests.blinding.conftest import ARM_CODES, ARM_LABELS, BLIND_ID, PASSWORD, found_secrets
from tests.web.webhelpers import login


def _unblind(client, csrf: str, subject_id: int, reason: str, password: str, *, htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/subjects/{subject_id}/unblind",
                       data={"csrf_token": csrf, "reason": reason, "password": password},
                       headers=headers, follow_redirects=False)  # fmt: skip


def _rows(engine, model):
    with Session(engine) as s:
        return list(s.exec(select(model)))


def test_a_wrong_password_unblinds_nothing(blind) -> None:
    sid = blind.subjects[ARM_CODES[0]][0]
    client, csrf = login(blind.app, "officer")
    before = len(_rows(blind.engine, AuditEntry))
    r = _unblind(client, csrf, sid, "SUSAR report to the regulator", "not my password")
    assert r.status_code == 422
    assert "the password is wrong" in r.text
    assert found_secrets(r.text) == []
    assert "SUSAR report to the regulator" in r.text  # the reason is kept in the form
    assert _rows(blind.engine, SubjectUnblinding) == []
    assert _rows(blind.engine, Signature) == []
    # the only trace: the wrong password, counted as a failed log-in of the account
    new = _rows(blind.engine, AuditEntry)[before:]
    assert [(a.action, a.actor, a.entity_type) for a in new] == [("sign_failed", "officer", "user")]
    assert ARM_LABELS[0] not in client.get(f"/subjects/{sid}").text


def test_wrong_passwords_are_throttled_like_log_ins(blind) -> None:
    from pv.auth import throttle

    sid = blind.subjects[ARM_CODES[0]][0]
    client, csrf = login(blind.app, "officer")
    for _ in range(throttle.FREE_FAILURES):
        r = _unblind(client, csrf, sid, "SUSAR", "guess")
        assert r.status_code == 422
    # now even the right password is not checked: the account must wait
    r = _unblind(client, csrf, sid, "SUSAR", PASSWORD)
    assert r.status_code == 422 and "Too many wrong passwords" in r.text
    assert _rows(blind.engine, SubjectUnblinding) == []
    assert found_secrets(r.text) == []


def test_a_reason_is_required(blind) -> None:
    sid = blind.subjects[ARM_CODES[0]][0]
    client, csrf = login(blind.app, "officer")
    r = _unblind(client, csrf, sid, "   ", PASSWORD)
    assert r.status_code == 422 and "give the reason for unblinding" in r.text
    assert _rows(blind.engine, SubjectUnblinding) == []


def test_unblinding_is_signed_audited_shown_and_reveals_the_arm_to_that_user_only(blind) -> None:
    sid, usubjid = blind.subjects[ARM_CODES[1]]
    other_sid = blind.subjects[ARM_CODES[0]][0]
    reason = "SUSAR: pneumonia needing admission, expedited report"
    client, csrf = login(blind.app, "officer")
    page = client.get(f"/subjects/{sid}")
    assert 'data-testid="unblind-form"' in page.text and "Blinded" in page.text

    r = _unblind(client, csrf, sid, reason, PASSWORD)
    assert r.status_code == 200, r.text
    assert f"this subject's arm is {ARM_LABELS[1]}" in r.text  # the swapped-in section
    assert "Officer Tester (officer)" in r.text and reason in r.text

    (row,) = _rows(blind.engine, SubjectUnblinding)
    assert (row.subject_id, row.user_id, row.reason, row.study_id) == (
        sid, blind.user_ids["officer"], reason, BLIND_ID)  # fmt: skip
    (sig,) = _rows(blind.engine, Signature)
    assert (sig.id, sig.meaning, sig.entity_type, sig.entity_id, sig.username, sig.reason) == (
        row.signature_id, "unblinded", "subject", str(sid), "officer", reason)  # fmt: skip
    with Session(blind.engine) as s:
        audit = list(s.exec(select(AuditEntry).where(AuditEntry.entity_type == "subject",
                                                     AuditEntry.entity_id == str(sid))
                            .order_by(col(AuditEntry.id))))  # fmt: skip
    assert [(a.action, a.actor, a.reason) for a in audit[-2:]] == [
        ("sign", "officer", reason), ("unblind", "officer", reason)]  # fmt: skip

    # The officer now sees this subject's arm (page and API), and only this subject's.
    shown = client.get(f"/subjects/{sid}").text
    assert ARM_LABELS[1] in shown and 'data-testid="unblind-form"' not in shown
    assert found_secrets(client.get(f"/subjects/{other_sid}").text) == []
    api = blind.client.get(f"/api/v1/subjects/{usubjid}", headers=blind.api("officer")).json()
    assert api["arm"] == ARM_CODES[1]
    listed = client.get("/subjects").text
    assert ARM_LABELS[1] in listed and ARM_LABELS[0] not in listed

    # Another blinded user sees that it was unblinded (who, when, why), not the arm.
    admin, _ = login(blind.app, "admin")
    seen = admin.get(f"/subjects/{sid}").text
    assert "Officer Tester (officer)" in seen and reason in seen
    assert re.search(r"on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", seen)
    assert found_secrets(seen) == []
    assert found_secrets(blind.client.get(f"/api/v1/subjects/{usubjid}",
                                          headers=blind.api("admin")).text) == []  # fmt: skip


def test_without_htmx_the_form_redirects_to_the_subject_page(blind) -> None:
    sid = blind.subjects[ARM_CODES[0]][0]
    client, csrf = login(blind.app, "investigator")  # the subject's site: emergency unblinding
    r = _unblind(client, csrf, sid, "emergency: anaphylaxis treatment", PASSWORD, htmx=False)
    assert r.status_code == 303 and r.headers["location"] == f"/subjects/{sid}"
    assert ARM_LABELS[0] in client.get(f"/subjects/{sid}").text


def test_who_may_not_unblind(blind) -> None:
    sid = blind.subjects[ARM_CODES[0]][0]
    dsmb, csrf = login(blind.app, "dsmb")
    assert dsmb.get(f"/subjects/{sid}").status_code == 403  # no patient-level pages
    assert _unblind(dsmb, csrf, sid, "curious", PASSWORD).status_code == 403
    # The open-label study has nothing to unblind: no form, and a post is refused.
    from sqlmodel import select as sel

    from pv.auth.models import User
    from pv.db import write_session
    from pv.study.models import Site, Subject
    from pv.study.service import add_subject

    with write_session(blind.engine) as s:
        site = s.exec(sel(Site).where(Site.study_id == "NCT04660565")).first()
        from pv.auth.service import actor_for

        admin = s.exec(sel(User).where(User.username == "admin")).one()
        subject = add_subject(session=s, actor=actor_for(admin), study_id="NCT04660565",
                              site=site, subjid="OPEN1")  # fmt: skip
        open_id = subject.id
    admin_client, admin_csrf = login(blind.app, "admin")
    assert 'data-testid="unblind-form"' not in admin_client.get(f"/subjects/{open_id}").text
    r = _unblind(admin_client, admin_csrf, open_id, "why not", PASSWORD)
    assert r.status_code == 422 and "open label" in r.text
    with Session(blind.engine) as s:
        assert s.exec(select(Subject).where(Subject.id == open_id)).one()
    assert _rows(blind.engine, SubjectUnblinding) == []
