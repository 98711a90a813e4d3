"""The demo's safety review: RSI lists, a fatal SUSAR (7 days) and another SUSAR (15 days)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from pv.audit.models import AuditEntry
from pv.db import read_session
from pv.demo.generate import build_demo
from pv.events.models import AdverseEvent
from pv.events.service import EVENT_FIELDS, replay, snapshot
from pv.icsr.models import ReportVersion, Submission
from pv.review.deadlines import list_clocks
from pv.review.demo import seed_review_demo
from pv.review.models import Assessment, ExpeditedReport, RsiVersion
from pv.review.rsi import rsi_in_force
from pv.signatures.models import Signature
from pv.study.models import Drug


def test_the_demo_holds_assessed_susars_with_their_clocks(engine: Engine):
    summary = build_demo(engine, seed=42)
    with read_session(engine) as s:
        drugs = {d.key: d for d in s.exec(select(Drug))}
        assert {s.get(Drug, v.drug_id).key for v in s.exec(select(RsiVersion))} == {
            "belimumab",
            "prednisone",
        }
        assessments = s.exec(select(Assessment).order_by(col(Assessment.event_id))).all()
        events = {a.event_id: s.get(AdverseEvent, a.event_id) for a in assessments}
        fatal = [a for a in assessments if a.fatal_or_life_threatening]
        other = [a for a in assessments if not a.fatal_or_life_threatening]
        assert len(fatal) == 1 and len(other) == 1
        death, second = fatal[0], other[0]
        assert events[death.event_id].aedecod == "Sepsis" and events[death.event_id].aesdth
        assert death.is_susar and death.causality["belimumab"] == "possible"
        assert death.expectedness["belimumab"] == "unexpected"
        rsi = rsi_in_force(s, drugs["belimumab"].id, death.awareness_date)
        assert rsi is not None and death.rsi_versions["belimumab"] == rsi.id
        assert second.is_susar and events[second.event_id].aeser
        assert all(e.status == "assessed" for e in events.values())
        clocks = {(c.event_id, c.kind): c for c in list_clocks(s, study_id=summary.study_id)}
        seven = clocks[(death.event_id, "initial_7")]
        assert seven.due_date == death.awareness_date + timedelta(days=7)
        assert seven.status == "submitted" and not seven.late
        assert clocks[(death.event_id, "followup_8")].due_date == (
            death.awareness_date + timedelta(days=15)
        )
        fifteen = clocks[(second.event_id, "initial_15")]
        assert fifteen.due_date == second.awareness_date + timedelta(days=15)
        assert fifteen.status == "overdue"
        # issue 16: each sent report is a prepared version and a recorded E2B submission to
        # the regulator, signed, on day 5 (initial, version 1) and day 13 (follow-up,
        # version 2: pv.review.demo.SENT_DAYS), each acknowledged "accepted"; the 15-day
        # SUSAR's version 1 was prepared and never sent
        subs = s.exec(select(Submission).order_by(col(Submission.sent_date))).all()
        assert [
            (x.event_id, s.get(ReportVersion, x.report_version_id).number, x.sent_date,
             x.recipient_kind, x.format, x.ack_outcome, s.get(ExpeditedReport,
             x.expedited_report_id).kind)
            for x in subs
        ] == [
            (death.event_id, 1, death.awareness_date + timedelta(days=5), "regulator", "e2b",
             "accepted", "initial_7"),
            (death.event_id, 2, death.awareness_date + timedelta(days=13), "regulator", "e2b",
             "accepted", "followup_8"),
        ]  # fmt: skip
        assert [c.submitted_date for c in (seven, clocks[(death.event_id, "followup_8")])] == [
            x.sent_date for x in subs
        ]
        signed = s.exec(select(Signature).where(Signature.entity_type == "submission")).all()
        assert sorted((g.entity_id, g.meaning) for g in signed) == sorted(
            (str(x.id), "approved") for x in subs
        )
        [prepared] = s.exec(
            select(ReportVersion).where(ReportVersion.event_id == second.event_id)
        ).all()
        assert prepared.number == 1
        entries = s.exec(select(func.count()).select_from(AuditEntry)).one()
        for event in s.exec(select(AdverseEvent)).all():
            history = s.exec(
                select(AuditEntry.changes)
                .where(
                    AuditEntry.entity_type == "adverse_event", AuditEntry.entity_id == str(event.id)
                )
                .order_by(col(AuditEntry.id))
            ).all()
            assert {k: replay(history).get(k) for k in EVENT_FIELDS} == snapshot(event)
    seed_review_demo(engine, study_id=summary.study_id)  # again: nothing new
    with read_session(engine) as s:
        assert s.exec(select(func.count()).select_from(AuditEntry)).one() == entries
