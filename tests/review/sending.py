"""Send an expedited report in a test, as an officer now does (issue 16): prepare the report
version that fits the clock and record its submission to a regulator, signed "approved".

This replaced "Mark as sent" (mark_report_sent). The tests' events are of 2021 while a
version is frozen today, and a report cannot be sent before its version was frozen
(pv.icsr.submissions): the helper dates the version it prepares back to the clock's day 0
(as if the officer had prepared it that morning), unless `frozen` says otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

from pv.audit.service import Actor
from pv.icsr.models import ReportVersion, Submission
from pv.icsr.submissions import record_submission
from pv.icsr.versions import prepare_version, versions_of
from pv.review.models import ExpeditedReport, ReportKind

REGULATOR = "NMPA Center for Drug Evaluation"


def version_for(
    session: Session, actor: Actor, clock: ExpeditedReport, frozen: date | None = None
) -> ReportVersion:
    """The version that answers `clock`: version 1 for an initial report, a later one
    (prepared now) for the follow-up; a version prepared here is dated `frozen` (default:
    the clock's day 0)."""
    if actor.role != "officer":  # the version is an officer's; the test is about the sending
        actor = Actor(username="tests-officer", role="officer")
    versions = versions_of(session, clock.event_id)
    if clock.kind == ReportKind.followup_8:
        if versions and versions[-1].number >= 2:
            return versions[-1]
        version = prepare_version(session, actor, clock.event_id)
        assert version.number >= 2, "send the initial report before the follow-up"
    else:
        if versions:
            return versions[0]
        version = prepare_version(session, actor, clock.event_id)
    day = frozen or clock.start_date
    version.created_at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    session.add(version)
    session.flush()
    return version


def send_report(
    session: Session,
    actor: Actor,
    report_id: int,
    sent_date: date,
    password: str | None,
    *,
    recipient: str = REGULATOR,
    channel: str = "gateway",
    fmt: str = "e2b",
) -> Submission:
    """Record the submission that closes expedited report `report_id` (what
    `mark_report_sent(session=, actor=, report_id=, sent_date=, password=)` did)."""
    clock = session.get(ExpeditedReport, report_id)
    assert clock is not None
    version = version_for(session, actor, clock)
    return record_submission(
        session, actor, version_id=version.id,  # type: ignore[arg-type]
        recipient_kind="regulator", recipient=recipient, channel=channel, format=fmt,
        sent_date=sent_date, clock_id=report_id, password=password,
    )  # fmt: skip
