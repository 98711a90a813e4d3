"""What the database holds: studies with arms, subjects and events; terminology releases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from pv.events.models import AdverseEvent
from pv.study.models import Arm, Study, Subject
from pv.terminology.models import TerminologyRelease


def status(session: Session) -> dict[str, Any]:
    subjects_by_arm = dict(
        session.exec(select(Subject.arm_id, func.count()).group_by(Subject.arm_id)).all()
    )
    subjects_by_study = dict(
        session.exec(select(Subject.study_id, func.count()).group_by(Subject.study_id)).all()
    )
    events_by_study = dict(
        session.exec(
            select(AdverseEvent.study_id, func.count()).group_by(AdverseEvent.study_id)
        ).all()
    )
    studies = []
    for study in session.exec(select(Study).order_by(Study.id)):
        arms = session.exec(
            select(Arm).where(Arm.study_id == study.id).order_by(Arm.position, Arm.id)
        ).all()
        studies.append(
            {
                "id": study.id,
                "title": study.title,
                "arms": [{"name": a.label, "subjects": subjects_by_arm.get(a.id, 0)} for a in arms],
                "subjects": subjects_by_study.get(study.id, 0),
                "events": events_by_study.get(study.id, 0),
            }
        )
    releases = session.exec(
        select(TerminologyRelease).order_by(TerminologyRelease.name, TerminologyRelease.version)
    ).all()
    return {
        "studies": studies,
        "terminologies": [
            {"name": r.name, "version": r.version, "terms": r.term_count} for r in releases
        ],
    }


def format_status(data: dict[str, Any]) -> str:
    lines = []
    for s in data["studies"]:
        lines.append(f"{s['id']}  {s['title']}")
        lines.append(f"  subjects: {s['subjects']}   events: {s['events']}")
        for a in s["arms"]:
            lines.append(f"  arm {a['name']}: {a['subjects']} subjects")
    if not data["studies"]:
        lines.append("no studies (pvtracker study import FILE.json, or pvtracker demo)")
    for t in data["terminologies"]:
        lines.append(f"terminology {t['name']} {t['version']}: {t['terms']} terms")
    return "\n".join(lines)
