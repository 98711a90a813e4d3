"""Electronic signatures of the review acts (issue 13 point 5; 21 CFR Part 11 §11.50,
§11.70, §11.200): assessment, lock, unlock and approving a report's submission need the
signer's password; a wrong one stores nothing; the signature holds the printed name, the
UTC time, the meaning and the digest of the version signed, valid for that version only."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, col, select

from pv.audit.models import AuditEntry
from pv.audit.service import Actor
from pv.auth.models import User
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.events.service import ValidationFailed, to_input, update_event
from pv.icsr.models import ReportVersion, Submission
from pv.icsr.submissions import submission_content
from pv.review import service as review
from pv.review.models import Assessment, ExpeditedReport
from pv.review.signing import event_content, event_signatures
from pv.review.workflow import TransitionRefused
from pv.signatures.models import Signature
from pv.signatures.service import is_valid, record_digest
from pv.timeutil import today
from tests.review.conftest import MILD_HEADACHE, PASSWORD, SERIOUS_PNEUMONIA, World
from tests.review.sending import send_report

WRONG = "amber quay 47 lanternz"


def _counts(world: World) -> dict[str, int]:
    with read_session(world.engine) as s:
        return {
            name: s.exec(select(func.count()).select_from(model)).one()
            for name, model in (
                ("signatures", Signature),
                ("assessments", Assessment),
                ("audit", AuditEntry),
                ("reports", ExpeditedReport),
                ("report versions", ReportVersion),
                ("submissions", Submission),
            )
        }


def _started(world: World, fields: dict | None = None) -> int:
    ev = world.report(fields or SERIOUS_PNEUMONIA)
    with write_session(world.engine) as s:
        review.start_review(session=s, actor=world.actor("officer"), event_id=ev,
                            expected_version=1)  # fmt: skip
    return ev


def _assess(world: World, ev: int, password: str = PASSWORD, susar: bool = True, **more):
    causality = "possible" if susar else "unlikely"
    with write_session(world.engine) as s:
        return review.save_assessment(
            session=s,
            actor=world.actor("officer"),
            event_id=ev,
            expected_version=world.event(ev).version,
            awareness_date=date(2021, 3, 4),
            seriousness_confirmed=susar,
            causality={"belimumab": causality, "prednisone": causality},
            password=password,
            **more,
        )


def _signatures(world: World, ev: int) -> list[Signature]:
    with read_session(world.engine) as s:
        return list(
            s.exec(
                select(Signature)
                .where(Signature.entity_type == "adverse_event", Signature.entity_id == str(ev))
                .order_by(col(Signature.id))
            )
        )


def _validity(world: World, ev: int) -> list[tuple[str, bool]]:
    with read_session(world.engine) as s:
        event = s.get(AdverseEvent, ev)
        return [(x.signature.meaning, x.valid) for x in event_signatures(s, event)]


def _name(world: World, who: str, full_name: str) -> None:
    with write_session(world.engine) as s:
        s.get(User, world.users[who].id).full_name = full_name


@pytest.mark.parametrize("password", [WRONG, "", None])
def test_a_wrong_or_missing_password_stores_no_assessment_and_no_signature(world, password):
    ev = _started(world)
    before, version = _counts(world), world.event(ev).version
    with pytest.raises(ValidationFailed) as err:
        _assess(world, ev, password=password)
    [issue] = err.value.findings.errors
    assert issue.field == "password"
    assert issue.message == (
        "The password is wrong: nothing was signed or saved."
        if password
        else "Enter your password to sign."
    )
    assert _counts(world) == before  # no assessment, clock, signature or audit entry
    assert (world.event(ev).status, world.event(ev).version) == ("under_review", version)


def test_a_wrong_password_is_reported_with_the_other_problems_of_the_form(world):
    ev = _started(world)
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        review.save_assessment(
            session=s, actor=world.actor("officer"), event_id=ev, expected_version=2,
            awareness_date=date(2099, 1, 1), seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "possible"}, password=WRONG,
        )  # fmt: skip
    assert {i.field for i in err.value.findings.errors} == {"awareness_date", "password"}


def test_the_signed_assessment_holds_name_utc_time_meaning_and_the_digest(world):
    _name(world, "officer", "Olivia Chen")
    ev = _started(world)
    start = datetime.now(UTC)
    _assess(world, ev)
    [sig] = _signatures(world, ev)
    event = world.event(ev)
    assert (sig.meaning, sig.signer_name, sig.username) == ("assessed", "Olivia Chen", "officer")
    assert sig.user_id == world.users["officer"].id and sig.study_id == world.study_id
    at = sig.at if sig.at.tzinfo else sig.at.replace(tzinfo=UTC)
    assert start - timedelta(seconds=1) <= at <= datetime.now(UTC)  # UTC, now
    assert sig.record_version == event.version == 3 and event.status == "assessed"
    # The digest is the SHA-256 of the canonical JSON of the version signed.
    with read_session(world.engine) as s:
        content = event_content(s, s.get(AdverseEvent, ev))
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=lambda v: v.isoformat())  # fmt: skip
    assert sig.record_digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert content["event"]["version"] == 3 and content["event"]["aeterm"] == "pneumonia"
    assert content["assessment"]["causality"] == {"belimumab": "possible", "prednisone": "possible"}
    assert _validity(world, ev) == [("assessed", True)]
    # The act and its signature are both in the audit trail, by the officer.
    with read_session(world.engine) as s:
        entries = s.exec(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(ev))
            .order_by(col(AuditEntry.id))
        ).all()
    assert [e.action for e in entries][-2:] == ["assess", "sign"]
    assert entries[-1].changes["meaning"] == [None, "assessed"]
    assert entries[-1].changes["record_digest"] == [None, sig.record_digest]
    assert entries[-1].actor == "officer"


def test_the_signature_is_not_valid_for_a_later_version(world):
    ev = _started(world)
    _assess(world, ev)
    data = to_input(world.event(ev))
    data.aeendtc = "2021-03-25"
    with write_session(world.engine) as s:  # the site corrects the assessed event
        update_event(session=s, actor=world.actor("inv1"), event_id=ev, data=data,
                     expected_version=3, reason="discharge letter")  # fmt: skip
    assert world.event(ev).version == 4
    assert _validity(world, ev) == [("assessed", False)]
    # Re-assessing signs the new version; the old signature stays, superseded.
    _assess(world, ev, reason="end date corrected")
    assert _validity(world, ev) == [("assessed", False), ("assessed", True)]
    assert [s.record_version for s in _signatures(world, ev)] == [3, 5]


def test_a_change_behind_the_application_breaks_the_signature(world):
    ev = _started(world)
    _assess(world, ev)
    assert _validity(world, ev) == [("assessed", True)]
    with write_session(world.engine) as s:  # same version number, other content
        s.execute(text("UPDATE adverseevent SET narrative = 'edited' WHERE id = :id"), {"id": ev})
    assert _validity(world, ev) == [("assessed", False)]


@pytest.mark.parametrize("password", [WRONG, ""])
def test_locking_needs_the_password_and_signs_the_locked_version(world, password):
    ev = _started(world, MILD_HEADACHE)
    _assess(world, ev, susar=False)
    before = _counts(world)
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        review.lock_event(session=s, actor=world.actor("officer"), event_id=ev,
                          expected_version=3, password=password)  # fmt: skip
    assert [i.field for i in err.value.findings.errors] == ["password"]
    assert _counts(world) == before and world.event(ev).status == "assessed"
    with write_session(world.engine) as s:
        review.lock_event(session=s, actor=world.actor("officer"), event_id=ev,
                          expected_version=3, password=PASSWORD)  # fmt: skip
    event = world.event(ev)
    assert (event.status, event.version) == ("locked", 4)
    sigs = _signatures(world, ev)
    assert [(x.meaning, x.record_version) for x in sigs] == [("assessed", 3), ("locked", 4)]
    # The assessment signed version 3; the record is now version 4 (locked).
    assert _validity(world, ev) == [("assessed", False), ("locked", True)]


def test_unlocking_needs_the_admins_password_and_a_reason(world):
    _name(world, "admin", "Ada Admin")
    ev = _started(world, MILD_HEADACHE)
    _assess(world, ev, susar=False)
    with write_session(world.engine) as s:
        review.lock_event(session=s, actor=world.actor("officer"), event_id=ev,
                          expected_version=3, password=PASSWORD)  # fmt: skip
    before = _counts(world)
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        review.unlock_event(session=s, actor=world.actor("admin"), event_id=ev,
                            expected_version=4, reason=" ", password=WRONG)  # fmt: skip
    assert {i.field for i in err.value.findings.errors} == {"reason", "password"}
    with pytest.raises(ValidationFailed), write_session(world.engine) as s:
        review.unlock_event(session=s, actor=world.actor("admin"), event_id=ev,
                            expected_version=4, reason="late lab result",
                            password=PASSWORD.upper())  # fmt: skip
    assert _counts(world) == before and world.event(ev).status == "locked"
    with write_session(world.engine) as s:
        review.unlock_event(session=s, actor=world.actor("admin"), event_id=ev,
                            expected_version=4, reason="late lab result",
                            password=PASSWORD)  # fmt: skip
    assert world.event(ev).status == "assessed"
    last = _signatures(world, ev)[-1]
    assert (last.meaning, last.signer_name, last.record_version, last.reason) == (
        "unlocked", "Ada Admin", 5, "late lab result",
    )  # fmt: skip
    assert _validity(world, ev) == [("assessed", False), ("locked", False), ("unlocked", True)]


def test_an_officer_cannot_sign_with_another_users_password(world):
    with write_session(world.engine) as s:  # officer2 has another password
        s.get(User, world.users["officer2"].id).password_hash = None
    ev = _started(world)
    with pytest.raises(ValidationFailed), write_session(world.engine) as s:
        review.save_assessment(
            session=s, actor=world.actor("officer2"), event_id=ev, expected_version=2,
            awareness_date=date(2021, 3, 4), seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "possible"}, password=PASSWORD,
        )  # fmt: skip
    assert _signatures(world, ev) == []


def test_a_disabled_signer_signs_nothing(world):
    ev = _started(world)
    with write_session(world.engine) as s:
        s.get(User, world.users["officer"].id).disabled = True
    with pytest.raises(ValidationFailed):
        _assess(world, ev)
    assert _signatures(world, ev) == []


def test_approving_a_report_for_submission_is_signed_and_records_it_sent(world):
    _name(world, "officer", "Olivia Chen")
    ev = _started(world)
    _assess(world, ev)
    with read_session(world.engine) as s:
        [report] = s.exec(
            select(ExpeditedReport).where(
                ExpeditedReport.event_id == ev, ExpeditedReport.kind == "initial_15"
            )
        ).all()
    before = _counts(world)
    with pytest.raises(ValidationFailed) as err, write_session(world.engine) as s:
        send_report(s, world.actor("officer"), report.id, today(), WRONG)  # fmt: skip
    assert [i.field for i in err.value.findings.errors] == ["password"]
    assert _counts(world) == before
    with read_session(world.engine) as s:
        assert s.get(ExpeditedReport, report.id).submitted_date is None
    with write_session(world.engine) as s:
        send_report(s, world.actor("officer"), report.id, today(), PASSWORD)  # fmt: skip
    with read_session(world.engine) as s:
        sent = s.get(ExpeditedReport, report.id)
        [sub] = s.exec(select(Submission)).all()
        version = s.get(ReportVersion, sub.report_version_id)
        [sig] = s.exec(select(Signature).where(Signature.entity_type == "submission"))
        assert sent.submitted_date == today() and sent.submitted_by == world.users["officer"].id
        assert sub.expedited_report_id == report.id and version.number == 1
        # the event version signed (3: submitted, under review, assessed), as before
        assert (sig.entity_id, sig.meaning, sig.signer_name, sig.record_version) == (
            str(sub.id), "approved", "Olivia Chen", 3,
        )  # fmt: skip
        assert is_valid(sig, submission_content(sub, version))
        assert sig.record_digest == record_digest(submission_content(sub, version))
    assert _validity(world, ev) == [("assessed", True), ("approved", True)]
    data = to_input(world.event(ev))
    data.narrative = "Admitted for intravenous antibiotics; blood cultures negative."
    with write_session(world.engine) as s:  # a follow-up after the approval
        update_event(session=s, actor=world.actor("inv1"), event_id=ev, data=data,
                     expected_version=3, reason="follow-up")  # fmt: skip
    # The assessment signed the event version it assessed: no longer valid. The approval
    # signed report version 1 as sent (frozen): the follow-up is a new report version, so
    # the approval of what was sent stays valid...
    assert _validity(world, ev) == [("assessed", False), ("approved", True)]
    with write_session(world.engine) as s:  # ...until the stored record is not what was signed
        s.get(Submission, sub.id).file_sha256 = "0" * 64
    assert _validity(world, ev) == [("assessed", False), ("approved", False)]


def test_the_generic_status_route_cannot_lock_or_unlock_unsigned(world):
    ev = _started(world, MILD_HEADACHE)
    _assess(world, ev, susar=False)
    with pytest.raises(TransitionRefused, match="signed"), write_session(world.engine) as s:
        review.change_status(session=s, actor=world.actor("officer"), event_id=ev,
                             to="locked", expected_version=3)  # fmt: skip
    assert world.event(ev).status == "assessed"


def test_the_system_acts_unsigned(world):
    """The demo's seeded review is done by a system actor (no person, no password): it is
    recorded without a signature, and the page shows nothing signed."""
    ev = world.report(MILD_HEADACHE)
    system = Actor(username="demo", role="officer")
    with write_session(world.engine) as s:
        review.start_review(session=s, actor=system, event_id=ev, expected_version=1)
        review.save_assessment(
            session=s, actor=system, event_id=ev, expected_version=2,
            awareness_date=date(2021, 3, 4), seriousness_confirmed=False,
            causality={"belimumab": "unlikely", "prednisone": "unlikely"},
        )  # fmt: skip
    assert world.event(ev).status == "assessed" and _signatures(world, ev) == []


def test_signatures_survive_a_reload_with_the_same_digest(world):
    """The digest computed when signing equals the one computed from the stored rows (the
    time stamps and JSON columns read back alike on both databases)."""
    ev = _started(world)
    _assess(world, ev)
    with Session(world.engine) as s:
        event = s.get(AdverseEvent, ev)
        [sig] = s.exec(select(Signature)).all()
        assert is_valid(sig, event_content(s, event))
