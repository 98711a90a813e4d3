"""The signed review acts through the event review page (issue 13 point 5): each form shows
the meaning being signed and asks for the password; a wrong password refuses the act with
the message next to the field and stores nothing; the signatures are listed on the page
(printed name, UTC time, meaning, version, valid or not for the current version) and in
the event's history."""

from __future__ import annotations

import re

from sqlmodel import select

from pv.db import read_session
from pv.icsr.models import Submission
from pv.review.models import Assessment, ExpeditedReport
from pv.signatures.models import Signature
from tests.web.reviewhelpers import add_event, assessment_form, event, post, text_of, version
from tests.web.webhelpers import PASSWORD, login

WRONG = PASSWORD + "!"
REFUSED = "The password is wrong: nothing was signed or saved."


def _box(html: str, meaning: str) -> str:
    """The sign box of one form."""
    return html.split(f'data-testid="sign-{meaning}"', 1)[1].split("</fieldset>", 1)[0]


def _signatures(html: str) -> list[list[str]]:
    table = html.split('data-testid="signatures"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-testid="signature">(.*?)</tr>', table, re.S)
    return [[text_of(c).strip() for c in re.findall(r"<td>(.*?)</td>", r, re.S)] for r in rows]


def _stored(env, event_id):  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        sigs = s.exec(select(Signature).order_by(Signature.id)).all()
        assessed = s.exec(select(Assessment).where(Assessment.event_id == event_id)).first()
        return [(x.meaning, x.entity_type) for x in sigs], assessed is not None


def _version(world, report):  # type: ignore[no-untyped-def]
    """Report version 1 of the clock's event, frozen on its day 0 (tests.review.sending)."""
    from pv.db import write_session
    from tests.review.sending import version_for
    from tests.web.reviewhelpers import actor_for

    with write_session(world.engine) as s:
        clock = s.get(ExpeditedReport, report.id)
        version_for(s, actor_for(world.users["officer"]), clock)


def _submission_form(html: str) -> dict[str, str]:
    """The "Record submission" form's values as the page fills them in."""
    form = html.split('data-testid="submission-form"', 1)[1].split("</form>", 1)[0]
    values = dict(re.findall(r'<input name="(\w+)" maxlength="\d+" value="([^"]*)"', form))
    for name, body in re.findall(r'<select name="(\w+)">(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body) or re.search(
            r'<option value="([^"]*)"', body
        )
        values[name] = chosen.group(1) if chosen else ""
    values["sent_date"] = re.search(r'name="sent_date" value="([^"]*)"', form).group(1)
    values["recipient"] = "NMPA Center for Drug Evaluation"
    return values


def _started(world):  # type: ignore[no-untyped-def]
    event_id, _ = add_event(world)
    officer, csrf = login(world.app, "officer")
    r = post(officer, csrf, f"/review/events/{event_id}/start", version="1")
    assert r.status_code == 303
    return event_id, officer, csrf


def test_the_assessment_is_signed_and_a_wrong_password_stores_nothing(world):
    event_id, officer, csrf = _started(world)
    page = officer.get(f"/review/events/{event_id}").text
    box = text_of(_box(page, "assessed"))
    assert "Sign: assessed" in box
    assert "By entering my password I sign this record as “assessed”." in box
    assert 'type="password" name="password"' in _box(page, "assessed")
    assert "Nothing signed yet." in text_of(page)

    for typed, message in ((WRONG, REFUSED), ("", "Enter your password to sign.")):
        r = post(officer, csrf, f"/review/events/{event_id}/assess",
                 **assessment_form(world, event_id, password=typed))  # fmt: skip
        assert r.status_code == 422
        assert message in text_of(_box(r.text, "assessed"))  # next to the field
        assert 'value="probable" selected' in r.text  # the rest of the form is kept
        assert WRONG not in r.text  # a password is never sent back
        assert _stored(world, event_id) == ([], False)
        assert event(world, event_id).status == "under_review"

    r = post(officer, csrf, f"/review/events/{event_id}/assess",
             **assessment_form(world, event_id))  # fmt: skip
    assert r.status_code == 303
    page = officer.get(r.headers["location"]).text
    [row] = _signatures(page)
    meaning, name, when, record, signed_version, valid = row
    assert (meaning, name, record, signed_version) == (
        "assessed",
        "Officer (officer)",
        "Event",
        "3",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when)
    assert valid == "valid for the current version"
    assert _stored(world, event_id) == ([("assessed", "adverse_event")], True)


def test_approve_lock_and_unlock_are_signed_and_the_older_signatures_are_superseded(world):
    event_id, officer, csrf = _started(world)
    post(officer, csrf, f"/review/events/{event_id}/assess", **assessment_form(world, event_id))
    with read_session(world.engine) as s:
        [report] = s.exec(
            select(ExpeditedReport).where(
                ExpeditedReport.event_id == event_id, ExpeditedReport.kind == "initial_15"
            )
        ).all()
    _version(world, report)
    page = officer.get(f"/review/events/{event_id}").text
    assert "By entering my password I sign this record as “approved for submission”." in (
        text_of(_box(page, "approved"))
    )
    form = _submission_form(page) | {"sent_date": "2021-03-10"}
    assert form["clock_id"] == str(report.id)  # the open clock that fits is preselected
    r = post(officer, csrf, f"/review/events/{event_id}/submissions", **form, password=WRONG)
    assert r.status_code == 422 and REFUSED in text_of(_box(r.text, "approved"))
    with read_session(world.engine) as s:
        assert s.get(ExpeditedReport, report.id).submitted_date is None
        assert s.exec(select(Submission)).all() == []
    r = post(officer, csrf, f"/review/events/{event_id}/submissions", **form, password=PASSWORD)
    assert r.status_code == 303
    with read_session(world.engine) as s:
        assert s.get(ExpeditedReport, report.id).submitted_date.isoformat() == "2021-03-10"

    locked_at = version(world, event_id)
    r = post(officer, csrf, f"/review/events/{event_id}/lock", version=str(locked_at),
             password=WRONG)  # fmt: skip
    assert r.status_code == 422 and REFUSED in text_of(_box(r.text, "locked"))
    assert event(world, event_id).status == "assessed"
    r = post(officer, csrf, f"/review/events/{event_id}/lock", version=str(locked_at),
             password=PASSWORD)  # fmt: skip
    assert r.status_code == 303 and event(world, event_id).status == "locked"

    page = officer.get(f"/review/events/{event_id}").text
    rows = _signatures(page)
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("assessed", "Officer (officer)", "Event", "3"),
        (
            "approved for submission",
            "Officer (officer)",
            "Report version 1 sent to NMPA Center for Drug Evaluation",
            "3",
        ),
        ("locked", "Officer (officer)", "Event", "4"),
    ]
    assert rows[0][5] == "not valid for the current version (4) changed since: Status"
    # the approval signed report version 1 as sent (frozen): locking the event changes
    # nothing of it (before issue 16 it signed the clock and the event record, and went
    # "not valid" here)
    assert rows[1][5] == "valid for the current version"
    assert rows[2][5] == "valid for the current version"

    admin, admin_csrf = login(world.app, "admin")
    r = post(admin, admin_csrf, f"/review/events/{event_id}/unlock", version="4",
             reason="late lab result", password=WRONG)  # fmt: skip
    assert r.status_code == 422 and REFUSED in text_of(_box(r.text, "unlocked"))
    assert 'value="late lab result"' in r.text  # the reason is kept
    assert event(world, event_id).status == "locked"
    r = post(admin, admin_csrf, f"/review/events/{event_id}/unlock", version="4",
             reason="late lab result", password=PASSWORD)  # fmt: skip
    assert r.status_code == 303 and event(world, event_id).status == "assessed"
    rows = _signatures(admin.get(f"/review/events/{event_id}").text)
    assert [(r[0], r[1], r[4], r[5]) for r in rows][-1] == (
        "unlocked", "Admin (admin)", "5", "valid for the current version",
    )  # fmt: skip
    assert [r[5].split(" (")[0] for r in rows[:-1]] == [
        "not valid for the current version",  # assessed: event version 3
        "valid for the current version",  # the approval of report version 1 as sent
        "not valid for the current version",  # locked: event version 4
    ]


def test_the_history_shows_each_signature_readably(world):
    event_id, officer, csrf = _started(world)
    post(officer, csrf, f"/review/events/{event_id}/assess", **assessment_form(world, event_id))
    page = officer.get(f"/events/{event_id}").text
    history = page.split('id="history"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", history, re.S)
    sign = next(text_of(r) for r in rows if ">sign<" in r).replace(" :", ":")
    assert "Officer (officer)" in sign
    assert "Meaning of the signature: assessed" in sign
    assert "Version signed: 3" in sign
    with read_session(world.engine) as s:
        digest = s.exec(select(Signature.record_digest)).one()
    assert f"Digest of the version signed (SHA-256): {digest}" in sign


def test_wrong_signing_passwords_are_throttled_and_lock_the_account_like_log_ins(world):
    """Part 11 §11.300(d): guessing through the sign box is no easier than at log-in."""
    from datetime import timedelta

    from sqlalchemy import func

    from pv.audit.models import AuditEntry
    from pv.auth.models import LoginFailure, User
    from pv.db import write_session
    from pv.timeutil import utcnow

    event_id, officer, csrf = _started(world)
    officer_id = world.users["officer"].id
    for _ in range(5):  # the free attempts
        r = post(officer, csrf, f"/review/events/{event_id}/assess",
                 **assessment_form(world, event_id, password=WRONG))  # fmt: skip
        assert r.status_code == 422 and REFUSED in text_of(r.text)
    r = post(officer, csrf, f"/review/events/{event_id}/assess",
             **assessment_form(world, event_id))  # the right one, too soon  # fmt: skip
    assert r.status_code == 422
    assert re.search(r"Too many wrong passwords: try again in \d+ seconds\.",
                     text_of(_box(r.text, "assessed")))  # fmt: skip
    assert _stored(world, event_id) == ([], False)
    with read_session(world.engine) as s:
        failures = select(func.count()).select_from(LoginFailure)
        assert s.exec(failures.where(LoginFailure.user_id == officer_id)).one() == 5
        audited = select(func.count()).select_from(AuditEntry)
        audited = audited.where(AuditEntry.action == "sign_failed", AuditEntry.actor == "officer")
        assert s.exec(audited).one() == 5

    # Nine failures earlier today (outside the 15-minute window): the next one locks.
    with write_session(world.engine) as s:
        s.exec(LoginFailure.__table__.delete())  # type: ignore[attr-defined]
        for minutes in range(60, 69):
            s.add(LoginFailure(at=utcnow() - timedelta(minutes=minutes), user_id=officer_id))
    r = post(officer, csrf, f"/review/events/{event_id}/assess",
             **assessment_form(world, event_id, password=WRONG))  # fmt: skip
    assert r.status_code == 422
    with read_session(world.engine) as s:
        assert s.get(User, officer_id).locked_at is not None
    assert _stored(world, event_id) == ([], False)
