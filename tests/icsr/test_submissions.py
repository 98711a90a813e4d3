"""Submissions (pv.icsr.submissions, issue 16 point 5): a report version sent to a recipient,
the file stored as version_file built it with its SHA-256, signed "approved", the clock it
answers closed; every rule a finding, all at once, nothing written on a refusal; the E2B
acknowledgement stored, a rejection reopening the clock."""

# ruff: noqa: F811  (the `world` fixture is imported, then named by the tests)
from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.auth.models import User
from pv.db import read_session, write_session
from pv.events.service import ValidationFailed
from pv.icsr.ack import build_ack
from pv.icsr.models import ReportFormat, ReportVersion, Submission
from pv.icsr.submissions import attach_ack, record_submission, submission_content
from pv.icsr.versions import prepare_version, version_file
from pv.review import service as review
from pv.review.models import ExpeditedReport
from pv.review.workflow import RoleRefused
from pv.signatures.models import Signature
from pv.signatures.service import is_valid, record_digest
from pv.study.models import Study
from pv.timeutil import today
from tests.review.conftest import (  # noqa: F401 (the fixture)
    FATAL_SEPSIS,
    PASSWORD,
    SERIOUS_PNEUMONIA,
    World,
    world,
)

NMPA = "NMPA Center for Drug Evaluation"
WRONG = PASSWORD + "!"


def _susar(w: World, fields: dict = SERIOUS_PNEUMONIA, day0: str = "2021-03-05") -> int:
    """A submitted serious event assessed as a SUSAR with day 0 `day0`: its clocks run."""
    ev = w.report(fields)
    officer = w.actor("officer")
    with write_session(w.engine) as s:
        review.start_review(session=s, actor=officer, event_id=ev, expected_version=1)
        review.save_assessment(
            session=s, actor=officer, event_id=ev, expected_version=2,
            awareness_date=date.fromisoformat(day0), seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "possible"}, password=PASSWORD,
        )  # fmt: skip
    return ev


def _clocks(w: World, ev: int) -> dict[str, ExpeditedReport]:
    with read_session(w.engine) as s:
        rows = s.exec(select(ExpeditedReport).where(ExpeditedReport.event_id == ev)).all()
        return {r.kind: r for r in rows if r.cancelled_at is None}


def _prepare(w: World, ev: int, frozen: date = date(2021, 3, 6)) -> int:
    """A report version, dated `frozen` (the tests' events are of 2021; see
    tests.review.sending)."""
    with write_session(w.engine) as s:
        v = prepare_version(s, w.actor("officer"), ev)
        v.created_at = datetime(frozen.year, frozen.month, frozen.day, tzinfo=UTC)
        s.add(v)
        s.flush()
        return v.id  # type: ignore[return-value]


def _record(w: World, version_id: int, who: str = "officer", **changes) -> int:  # type: ignore[no-untyped-def]
    values = dict(recipient_kind="regulator", recipient=NMPA, channel="gateway", format="e2b",
                  sent_date=date(2021, 3, 10), clock_id=None, password=PASSWORD)  # fmt: skip
    values |= changes
    with write_session(w.engine) as s:
        return record_submission(s, w.actor(who), version_id=version_id, **values).id  # type: ignore[return-value]


def _refused(w: World, version_id: int, **changes) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The findings of a refused submission: {field: message}."""
    with pytest.raises(ValidationFailed) as err:
        _record(w, version_id, **changes)
    return {i.field: i.message for i in err.value.findings.errors}


def _counts(w: World) -> dict[str, int]:
    with read_session(w.engine) as s:
        return {
            m.__name__: s.exec(select(func.count()).select_from(m)).one()
            for m in (Submission, Signature, AuditEntry, ReportVersion)
        }


def _sub(w: World, sub_id: int) -> Submission:
    with read_session(w.engine) as s:
        row = s.get(Submission, sub_id)
        s.expunge(row)
        return row


def _audit(w: World, entity: str, entity_id: int) -> list[AuditEntry]:
    with read_session(w.engine) as s:
        return list(s.exec(select(AuditEntry).where(
            AuditEntry.entity_type == entity, AuditEntry.entity_id == str(entity_id)
        ).order_by(col(AuditEntry.id))))  # fmt: skip


def test_a_regulator_submission_stores_the_file_signs_it_and_closes_the_clock(world: World):
    ev = _susar(world)
    clock = _clocks(world, ev)["initial_15"]
    vid = _prepare(world, ev)
    sid = _record(world, vid, clock_id=clock.id)
    sub = _sub(world, sid)
    with read_session(world.engine) as s:
        version = s.get(ReportVersion, vid)
        name, data = version_file(version, ReportFormat.e2b, masked=False)  # open-label study
        # the file sent is the version's download, byte for byte, with its SHA-256
        assert (sub.file_name, sub.file) == (name, data)
        assert sub.file_sha256 == hashlib.sha256(data).hexdigest()
        assert (sub.recipient_kind, sub.recipient, sub.channel, sub.format, sub.sent_date) == (
            "regulator", NMPA, "gateway", "e2b", date(2021, 3, 10))  # fmt: skip
        assert (sub.expedited_report_id, sub.recorded_by) == (clock.id, world.users["officer"].id)
        [sig] = s.exec(select(Signature).where(Signature.entity_type == "submission")).all()
        content = submission_content(sub, version)
        # what the signature covers: the submission's fields, the version and its snapshot,
        # the file's digest
        assert content["submission"]["file_sha256"] == sub.file_sha256
        assert content["submission"]["sent_date"] == "2021-03-10"
        assert content["version"] == 1 and content["snapshot"] == version.snapshot
        assert (sig.entity_id, sig.meaning) == (str(sid), "approved")
        assert sig.record_digest == record_digest(content) and is_valid(sig, content)
        changed = submission_content(sub, version) | {"version": 2}
        assert not is_valid(sig, changed)
    closed = _clocks(world, ev)["initial_15"]
    assert closed.submitted_date == date(2021, 3, 10)
    assert closed.submitted_by == world.users["officer"].id and closed.submitted_at is not None
    assert [a.action for a in _audit(world, "submission", sid)] == ["create", "sign"]
    created = _audit(world, "submission", sid)[0].changes
    assert created["file_sha256"] == [None, sub.file_sha256] and created["masked"] == [None, False]
    sent = _audit(world, "expedited_report", clock.id)[-1]
    assert sent.action == "sent" and sent.changes["submitted_date"] == [None, "2021-03-10"]


def test_every_finding_at_once_and_nothing_written(world: World):
    ev = _susar(world)
    vid = _prepare(world, ev)
    before = _counts(world)
    errors = _refused(world, vid, recipient="  ", channel="email", clock_id=None,
                      sent_date=today() + timedelta(days=1), password=WRONG)  # fmt: skip
    assert set(errors) == {"recipient", "format", "sent_date", "clock_id", "password"}
    assert errors["format"] == (
        "the E2B(R3) XML goes to a regulator through an E2B gateway or a web portal"
    )
    assert errors["sent_date"] == f"{today() + timedelta(days=1)} is in the future"
    assert errors["password"] == "The password is wrong: nothing was signed or saved."
    errors = _refused(world, vid, recipient_kind="sponsor", channel="pigeon", format="pdf",
                      recipient="x" * 201, sent_date=None)  # fmt: skip
    assert errors == {
        "recipient_kind": "'sponsor' is not one of the choices",
        "channel": "'pigeon' is not one of the choices",
        "format": "'pdf' is not one of the choices",
        "recipient": "at most 200 characters, not 201",
        "sent_date": "the date sent is required",
    }
    assert _counts(world) == before
    assert _clocks(world, ev)["initial_15"].submitted_date is None


def test_only_officers_record(world: World):
    ev = _susar(world)
    vid = _prepare(world, ev)
    for who in ("admin", "inv1", "dsmb"):
        with pytest.raises(RoleRefused):
            _record(world, vid, who=who, clock_id=_clocks(world, ev)["initial_15"].id)
    with pytest.raises(LookupError):
        _record(world, 999999)


def test_the_clock_must_be_open_of_the_same_event_and_fit_the_version(world: World):
    ev = _susar(world, FATAL_SEPSIS, day0="2021-05-03")  # 7-day initial, follow-up day 15
    other = _susar(world)
    clocks = _clocks(world, ev)
    assert set(clocks) >= {"initial_7", "followup_8", "investigator_sae_24h"}
    v1 = _prepare(world, ev, frozen=date(2021, 5, 3))
    may = dict(sent_date=date(2021, 5, 8))
    assert _refused(world, v1, clock_id=clocks["followup_8"].id, **may) == {
        "clock_id": "a follow-up report is a later version than 1: prepare a follow-up"
    }
    for clock_id in (_clocks(world, other)["initial_15"].id, clocks["investigator_sae_24h"].id,
                     987654):  # fmt: skip
        assert _refused(world, v1, clock_id=clock_id, **may) == {
            "clock_id": "no such expedited report of this event"
        }
    with pytest.raises(ValidationFailed) as err:
        _record(world, v1, clock_id=clocks["initial_7"].id, sent_date=date(2021, 5, 2))
    assert [(i.field, i.message) for i in err.value.findings.errors] == [
        ("sent_date", "version 1 was prepared on 2021-05-03: it cannot have been sent before"),
        ("sent_date", "a report cannot be sent before day 0 (awareness)"),
    ]
    _record(world, v1, clock_id=clocks["initial_7"].id, **may)
    assert _refused(world, v1, clock_id=clocks["initial_7"].id, **may) == {
        "clock_id": "this report was already sent on 2021-05-08"
    }
    v2 = _prepare(world, ev, frozen=date(2021, 5, 10))  # version 1 stands: a follow-up
    with read_session(world.engine) as s:
        assert s.get(ReportVersion, v2).number == 2
    may = dict(sent_date=date(2021, 5, 12))
    assert _refused(world, v2, clock_id=_clocks(world, other)["initial_15"].id, **may) == {
        "clock_id": "no such expedited report of this event"
    }
    with write_session(world.engine) as s:  # version 2 cannot be the initial report
        s.get(ExpeditedReport, clocks["initial_7"].id).submitted_date = None
    assert _refused(world, v2, clock_id=clocks["initial_7"].id, sent_date=date(2021, 5, 12)) == {
        "clock_id": "the initial report is version 1, not version 2"
    }
    _record(world, v2, clock_id=clocks["followup_8"].id, sent_date=date(2021, 5, 12))
    assert _clocks(world, ev)["followup_8"].submitted_date == date(2021, 5, 12)


def test_ethics_and_investigator_submissions_answer_no_clock(world: World):
    ev = _susar(world)
    vid = _prepare(world, ev)
    clock = _clocks(world, ev)["initial_15"]
    assert _refused(world, vid, recipient_kind="ethics", recipient="Ethics Committee of PUMCH",
                    channel="email", format="cioms", clock_id=clock.id) == {
        "clock_id": "only a submission to a regulator answers an expedited-report clock"
    }  # fmt: skip
    ethics = _record(world, vid, recipient_kind="ethics", recipient="Ethics Committee of PUMCH",
                     channel="email", format="cioms")  # fmt: skip
    sites = _record(world, vid, recipient_kind="investigator", recipient="All investigators",
                    channel="post", format="cioms_zh")  # fmt: skip
    assert _clocks(world, ev)["initial_15"].submitted_date is None  # still open
    with read_session(world.engine) as s:
        version = s.get(ReportVersion, vid)
        for sid, fmt in ((ethics, ReportFormat.cioms), (sites, ReportFormat.cioms_zh)):
            sub = s.get(Submission, sid)
            assert sub.expedited_report_id is None
            assert (sub.file_name, sub.file) == version_file(version, fmt, masked=False)
            assert sub.file.startswith(b"%PDF")
    # a CIOMS form to a regulator is fine too (by any channel)
    _record(world, vid, format="cioms", channel="email", clock_id=clock.id)
    assert _clocks(world, ev)["initial_15"].submitted_date == date(2021, 3, 10)


def test_a_blinded_study_masks_the_file_but_not_for_a_regulator(world: World):
    """ICH E2A: the regulator gets the unblinded SUSAR; ethics committees and investigators
    the blinded case; an officer who may not see arms sends only the masked file."""
    ev = _susar(world)
    vid = _prepare(world, ev)
    clock = _clocks(world, ev)["initial_15"]
    with write_session(world.engine) as s:
        s.get(Study, world.study_id).blinded = True
    ethics = _record(world, vid, recipient_kind="ethics", recipient="EC", channel="email",
                     format="cioms")  # fmt: skip
    blind_regulator = _record(world, vid, recipient="FDA", format="e2b", clock_id=clock.id)
    with write_session(world.engine) as s:
        s.get(User, world.users["officer"].id).unblinded = True
        s.get(ExpeditedReport, clock.id).submitted_date = None  # to send it once more
    open_regulator = _record(world, vid, clock_id=clock.id)
    with read_session(world.engine) as s:
        version = s.get(ReportVersion, vid)
        masked_xml = version_file(version, ReportFormat.e2b, masked=True)[1]
        plain_xml = version_file(version, ReportFormat.e2b, masked=False)[1]
    assert masked_xml != plain_xml
    assert _sub(world, ethics).file == version_file(version, "cioms", masked=True)[1]
    assert _sub(world, blind_regulator).file == masked_xml  # the officer may not see arms
    assert _sub(world, open_regulator).file == plain_xml
    assert [_audit(world, "submission", i)[0].changes["masked"][1]
            for i in (ethics, blind_regulator, open_regulator)] == [True, True, False]  # fmt: skip


def _sent(world: World) -> tuple[int, int, int]:
    ev = _susar(world)
    clock = _clocks(world, ev)["initial_15"]
    vid = _prepare(world, ev)
    return ev, clock.id, _record(world, vid, clock_id=clock.id)  # type: ignore[return-value]


def _ack(world: World, sid: int, data: bytes, who: str = "officer") -> Submission:
    with write_session(world.engine) as s:
        attach_ack(s, world.actor(who), sid, data)
    return _sub(world, sid)


def _ack_refused(world: World, sid: int, data: bytes) -> str:
    with pytest.raises(ValidationFailed) as err:
        _ack(world, sid, data)
    [issue] = err.value.findings.errors
    assert issue.field == "ack"
    return issue.message


def test_an_accepted_ack_is_stored_once(world: World):
    ev, clock, sid = _sent(world)
    at = datetime(2021, 3, 11, 8, 30, tzinfo=UTC)
    data = build_ack(_sub(world, sid).file, "accepted_with_errors", "C.2.r.4 missing", at=at)
    with pytest.raises(RoleRefused):
        _ack(world, sid, data, who="admin")
    sub = _ack(world, sid, data)
    assert (sub.ack_outcome, sub.ack_code) == ("accepted_with_errors", "CA")
    assert "C.2.r.4 missing" in sub.ack_message
    assert sub.ack_received_at.replace(tzinfo=UTC) == at
    assert sub.ack_file == data and sub.ack_sha256 == hashlib.sha256(data).hexdigest()
    [entry] = [a for a in _audit(world, "submission", sid) if a.action == "ack"]
    assert entry.changes["ack_outcome"] == [None, "accepted_with_errors"]
    assert _clocks(world, ev)["initial_15"].submitted_date == date(2021, 3, 10)  # still closed
    before = _counts(world)
    again = build_ack(sub.file, "rejected", "late")
    assert _ack_refused(world, sid, again) == (
        "this submission's acknowledgement was already received on 2021-03-11"
    )
    assert _counts(world) == before and _sub(world, sid).ack_outcome == "accepted_with_errors"


def test_an_ack_must_be_an_ack_of_this_files_report_and_only_for_e2b(world: World):
    ev, clock, sid = _sent(world)
    other_ev, other_clock, other_sid = _sent(world)
    assert _ack_refused(world, sid, b"") == "choose the acknowledgement file (MCCI_IN200101UV01)"
    assert _ack_refused(world, sid, b"<not xml") != ""  # the ACK parser's own message
    theirs = build_ack(_sub(world, other_sid).file, "accepted")
    message = _ack_refused(world, sid, theirs)
    assert message.startswith("this acknowledgement is of report ")
    # Another version of the same case: C.1.1 is the same, its batch number (N.1.2) is not.
    mine = _sub(world, sid).file
    assert mine.count(b"-V1-") == 1  # the batch number names the version
    version_2 = build_ack(mine.replace(b"-V1-", b"-V2-"), "accepted")
    assert _ack_refused(world, sid, version_2).startswith(
        "this acknowledgement is of batch "
    ) and "not of the batch sent" in _ack_refused(world, sid, version_2)
    with read_session(world.engine) as s:
        version = s.exec(select(ReportVersion).where(ReportVersion.event_id == ev)).one()
    cioms = _record(world, version.id, recipient_kind="ethics", recipient="EC",
                    channel="email", format="cioms")  # fmt: skip
    assert _ack_refused(world, cioms, build_ack(_sub(world, sid).file, "accepted")) == (
        "only an E2B(R3) submission has an acknowledgement"
    )
    assert _sub(world, sid).ack_outcome is None


def test_a_rejected_ack_reopens_the_clock_and_a_new_submission_closes_it(world: World):
    ev, clock, sid = _sent(world)
    sub = _ack(world, sid, build_ack(_sub(world, sid).file, "rejected", "E.i.2.1b invalid"))
    assert sub.ack_outcome == "rejected" and sub.ack_code == "CR"
    reopened = _clocks(world, ev)["initial_15"]
    assert (reopened.submitted_date, reopened.submitted_at, reopened.submitted_by) == (
        None, None, None)  # fmt: skip
    entry = _audit(world, "expedited_report", clock)[-1]
    assert entry.action == "reopen" and entry.changes["submitted_date"] == ["2021-03-10", None]
    assert entry.reason == f"the receiver rejected submission {sid}"
    # the version may be sent again (its only submission was rejected)
    again = _record(world, sub.report_version_id, clock_id=clock, sent_date=date(2021, 3, 12))
    assert _clocks(world, ev)["initial_15"].submitted_date == date(2021, 3, 12)
    _ack(world, again, build_ack(_sub(world, again).file, "accepted"))
    assert _clocks(world, ev)["initial_15"].submitted_date == date(2021, 3, 12)


def test_a_rejection_leaves_the_clock_closed_while_another_submission_stands(world: World):
    ev, clock, sid = _sent(world)
    first = _sub(world, sid)
    with write_session(world.engine) as s:  # a second standing submission of the same clock
        s.add(Submission(**{k: getattr(first, k) for k in (
            "report_version_id", "event_id", "study_id", "expedited_report_id",
            "recipient_kind", "channel", "format", "sent_date", "file_name", "file_sha256",
            "file", "recorded_by_name")}, recipient="FDA"))  # fmt: skip
    _ack(world, sid, build_ack(first.file, "rejected", "no"))
    assert _clocks(world, ev)["initial_15"].submitted_date == date(2021, 3, 10)
    assert [a.action for a in _audit(world, "expedited_report", clock)][-1] == "sent"
