"""The demo's safety review: RSI lists for both drugs and two assessed SUSARs.

The RSI lists are plausible readings of the products' labels (belimumab: Benlysta
SmPC/USPI adverse reactions; prednisone: corticosteroid SmPC class effects) mapped to
CTCAE v5.0 terms; they are demo data, not regulatory documents. Everything is written
through the review services, so the demo obeys the rules real reviews obey.

The two SUSARs are planted by pv.demo.generate on fixed dates (below), in subjects chosen
from the plan without a draw from the seed's generator: every seed has them, with the same
clocks (ICH E2A, pv.review.clocks: day 0 = the sponsor's awareness, calendar days):

- The death (Sepsis, combination arm, site 01): onset 2021-09-13, died 2021-09-20; serious,
  fatal, belimumab "possible" and Sepsis not in belimumab's RSI -> fatal SUSAR. The sponsor
  knew of the death on 2021-09-20 (day 0): the 7-day initial report (due 2021-09-27) was
  sent on day 5 (2021-09-25) and the follow-up (due day 15, 2021-10-05) on day 13
  (2021-10-03): both in time. Each is a report version prepared that day (version 1, the
  initial report; version 2, the follow-up) and a recorded E2B(R3) submission to the
  regulator (NMPA Center for Drug Evaluation, through the gateway), signed "approved" by
  the officer, which the regulator acknowledged "accepted" (pv.icsr.ack.build_ack).
- A disseminated herpes zoster (Shingles, grade 3, hospitalised; combination arm, site 02):
  onset 2021-11-08, the sponsor knew on 2021-11-10 (day 0); Shingles is not in belimumab's
  RSI -> 15-day SUSAR, due 2021-11-25: its initial report version was prepared on day 3
  but never sent (no submission), so the clock is overdue (pv.review.clocks.status: not
  sent and the day after its due date has come) on every day the demo is run since.

"Overdue" therefore means what the dashboard means by it, judged on the day it is viewed;
the demo's data are from 2021, so the unsent report is years past due and the sent ones
show "submitted", not late.

The demo's users act (issue 13): its admin adds the RSI versions, its safety officer
assesses and approves the reports for submission, signing both with the officer's
password (DEMO_USERS): the demo signs only as its own officer, whose password it knows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from pv.audit.service import Actor
from pv.auth.passwords import verify_password
from pv.auth.service import actor_for, get_user
from pv.db import write_session
from pv.events.dates import parse_dtc
from pv.events.models import AdverseEvent, Status
from pv.events.service import subject_drugs
from pv.i18n import gettext as _
from pv.icsr.models import ReportVersion
from pv.review.models import Assessment, ExpeditedReport, RsiVersion
from pv.review.service import add_rsi_version, save_assessment, start_review
from pv.study.models import Drug, Subject

SEPSIS = "10040047"
SHINGLES = "10040555"
# The planted SUSARs (pv.demo.generate): the same dates for every seed.
FATAL_ONSET = date(2021, 9, 13)
FATAL_DEATH = date(2021, 9, 20)  # the sponsor's awareness of the death: day 0 of 7 and 15
SENT_DAYS = (5, 13)  # the initial (7-day) and follow-up reports were sent these days
PREPARED_AT = time(9, 0)  # a version "prepared" by the demo: that day, 09:00 UTC
PREPARED_15_DAY = 3  # the 15-day SUSAR's initial report was prepared on day 3, never sent
REGULATOR = "NMPA Center for Drug Evaluation"
SUSAR15_ONSET = date(2021, 11, 8)
SUSAR15_AWARE_DAYS = 2  # the sponsor learned of it two days after onset: day 0 of 15
SUSAR15_VERBATIM = "disseminated herpes zoster"
_BELIMUMAB = (
    "10051792",
    "10001718",
    "10002218",
    "10046735",
    "10037868",  # infusion, hypersensitivity
    "10046300",
    "10046571",
    "10055078",
    "10034835",
    "10058838",
    "10059827",  # infections
    "10012378",
    "10022437",
    "10042458",  # depression, insomnia, suicidal ideation
    "10012727",
    "10028813",
    "10016558",
    "10019211",
    "10033425",
    "10049182",
)
RSI: dict[str, list[tuple[str, date, tuple[str, ...]]]] = {
    "belimumab": [
        ("Benlysta IB edition 12", date(2020, 6, 1), _BELIMUMAB),
        ("Benlysta IB edition 13", date(2021, 10, 1), (*_BELIMUMAB, "10040753", "10002855")),
    ],
    "prednisone": [
        (
            "Prednisone SmPC 2019",
            date(2019, 5, 1),
            (
                # infections: susceptibility, severity, reactivation
                "10061229",
                "10046300",
                "10046571",
                "10040047",
                "10040555",
                "10043649",
                "10040872",
                "10080137",
                "10055078",
                "10040753",
                "10034835",
                "10058838",
                # metabolic, cardiovascular
                "10020639",
                "10052426",
                "10021018",
                "10047896",
                "10011655",
                "10020667",
                "10020870",
                "10020772",
                "10050068",
                # bone and muscle, eye, gut, skin
                "10031282",
                "10041569",
                "10017076",
                "10031264",
                "10066480",
                "10062572",
                "10065776",
                "10007739",
                "10018304",
                "10013946",
                "10017822",
                "10037847",
                "10006504",
                "10040799",
                "10053692",
                # neuropsychiatric, endocrine
                "10022437",
                "10022998",
                "10015533",
                "10012378",
                "10037234",
                "10026749",
                "10002855",
                "10001497",
                "10034719",
                "10001367",
            ),
        ),
    ],
}
_WHO_UMC = {"RELATED": "probable", "POSSIBLY RELATED": "possible"}


def seed_review_demo(engine: Engine, *, study_id: str) -> None:
    """Add the demo's RSI versions and assessments (does nothing the second time)."""
    with write_session(engine) as session:
        seed_review(session, study_id=study_id)


def demo_user(session: Session, role: str, *, signs: bool = False) -> tuple[Actor, str]:
    """The demo user of `role` (DEMO_USERS, seeded by pv.demo.generate) and its password,
    which must be the account's when the user `signs`."""
    from pv.demo.cli import DEMO_USERS

    name, _role, password = next(u for u in DEMO_USERS if u[1] == role)
    user = get_user(session, name)
    if user is None or user.role != role or user.disabled or user.locked_at is not None:
        raise LookupError(
            _("no active demo user '%(username)s': seed the demo users first", username=name)
        )
    if signs and not verify_password(user.password_hash, password):
        raise LookupError(
            _(
                "the user '%(username)s' has another password than the demo's: the demo "
                "signs only as its own users",
                username=name,
            )
        )
    return actor_for(user), password


def seed_review(session: Session, *, study_id: str) -> None:
    drugs = {d.key: d for d in session.exec(select(Drug).where(Drug.study_id == study_id))}
    admin, _password = demo_user(session, "admin")
    officer, password = demo_user(session, "officer", signs=True)
    for key, versions in RSI.items():
        drug = drugs.get(key)
        if (
            drug is None
            or session.exec(select(RsiVersion).where(RsiVersion.drug_id == drug.id)).first()
        ):
            continue
        for label, start, codes in versions:
            add_rsi_version(
                session=session,
                actor=admin,
                drug=drug,
                label=label,
                effective_from=start,
                codes=codes,
            )
    if session.exec(select(Assessment.id).where(Assessment.study_id == study_id)).first():
        return
    events = session.exec(
        select(AdverseEvent)
        .where(
            AdverseEvent.study_id == study_id,
            col(AdverseEvent.aeser).is_(True),
            AdverseEvent.status == Status.submitted,
        )
        .order_by(col(AdverseEvent.id))
    ).all()
    # The planted SUSARs (pv.demo.generate), found by what they are, not by their ids.
    fatal = next((e for e in events if e.aelltcd == SEPSIS and e.aesdth
                  and "belimumab" in e.aerel), None)  # fmt: skip
    fifteen = next((e for e in events if e.aelltcd == SHINGLES and e.aeterm == SUSAR15_VERBATIM
                    and "belimumab" in e.aerel), None)  # fmt: skip
    if fatal is not None:
        aware = parse_dtc(fatal.aeendtc or fatal.aestdtc or "").earliest_date
        reports = _assess(session, officer, password, fatal, aware, belimumab="possible")
        for report, day in zip(reports, SENT_DAYS, strict=False):
            _send(session, officer, password, report, aware + timedelta(days=day))
    if fifteen is not None:  # assessed, its 15-day report prepared but never sent: overdue
        aware = parse_dtc(fifteen.aestdtc or "").earliest_date + timedelta(days=SUSAR15_AWARE_DAYS)
        _assess(session, officer, password, fifteen, aware, belimumab="possible")
        _prepare(session, officer, fifteen.id, aware + timedelta(days=PREPARED_15_DAY))  # type: ignore[arg-type]


def _prepare(session: Session, officer: Actor, event_id: int, day: date) -> ReportVersion:
    """The event's next report version, dated `day` at PREPARED_AT (the demo's data are
    of 2021: the version is dated as if the officer prepared it that morning, so that the
    submission recorded that day is not before its version; the audit entry keeps the
    moment the demo ran)."""
    from pv.icsr.versions import prepare_version

    version = prepare_version(session, officer, event_id)
    version.created_at = datetime.combine(day, PREPARED_AT, tzinfo=UTC)
    session.add(version)
    session.flush()
    return version


def _send(
    session: Session, officer: Actor, password: str, report: ExpeditedReport, day: date
) -> None:
    """Prepare the version that answers `report` (1 for the initial report, 2 for the
    follow-up) on `day`, record its E2B submission to the regulator that day, signed
    "approved" by the officer, and the regulator's ACK "accepted" (pv.icsr.ack.build_ack,
    what a receiver sends back)."""
    from pv.icsr.ack import build_ack
    from pv.icsr.models import AckOutcome
    from pv.icsr.submissions import attach_ack, record_submission

    version = _prepare(session, officer, report.event_id, day)
    sub = record_submission(
        session, officer, version_id=version.id,  # type: ignore[arg-type]
        recipient_kind="regulator", recipient=REGULATOR, channel="gateway", format="e2b",
        sent_date=day, clock_id=report.id, password=password,
    )  # fmt: skip
    attach_ack(session, officer, sub.id, build_ack(sub.file, AckOutcome.accepted))  # type: ignore[arg-type]


def _assess(
    session: Session,
    officer: Actor,
    password: str,
    event: AdverseEvent,
    aware: date,
    *,
    belimumab: str,
) -> list[ExpeditedReport]:
    subject = session.get(Subject, event.subject_id)
    assert subject is not None and event.id is not None
    start_review(session=session, actor=officer, event_id=event.id, expected_version=event.version)
    causality = {
        d.key: _WHO_UMC.get(event.aerel.get(d.key, ""), "unlikely")
        for d in subject_drugs(session, subject)
    }
    causality["belimumab"] = belimumab
    save_assessment(
        session=session,
        actor=officer,
        password=password,  # the officer signs the assessment ("assessed")
        event_id=event.id,
        expected_version=event.version,
        awareness_date=aware,
        seriousness_confirmed=True,
        causality=causality,
    )
    return list(
        session.exec(
            select(ExpeditedReport)
            .where(
                ExpeditedReport.event_id == event.id, ExpeditedReport.kind != "investigator_sae_24h"
            )
            .order_by(col(ExpeditedReport.due_date))
        )
    )
