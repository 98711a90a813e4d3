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
from pv.review.deadlines import list_clocks
from pv.review.demo import seed_review_demo
from pv.review.models import Assessment, RsiVersion
from pv.review.rsi import rsi_in_force
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
