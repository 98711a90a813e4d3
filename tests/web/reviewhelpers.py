"""Helpers for the review page tests: serious events, form posts, reading the database."""

from __future__ import annotations

import itertools
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from pv.auth.service import actor_for
from pv.db import read_session, write_session
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.review.models import ExpeditedReport, SafetyQuery
from pv.study.service import add_subject
from tests.web.webhelpers import PASSWORD

LUNG_INFECTION = "10061229"
HX = {"HX-Request": "true"}
SERIOUS = dict(
    aeterm="pneumonia",
    aelltcd=LUNG_INFECTION,
    aetoxgr=3,
    aeser=True,
    aeshosp=True,
    aerel={"belimumab": "POSSIBLY RELATED", "prednisone": "NOT RELATED"},
    aeacn={"belimumab": "DRUG INTERRUPTED", "prednisone": "DOSE NOT CHANGED"},
    aeout="RECOVERED/RESOLVED",
    aestdtc="2021-03-02",
    aeendtc="2021-03-20",
    narrative="Admitted for intravenous antibiotics.",
    aeawaredtc="2021-03-02",
)
FATAL = dict(
    SERIOUS,
    aetoxgr=5,
    aesdth=True,
    aeout="FATAL",
    aeterm="fatal pneumonia",
    narrative="Died of pneumonia.",
)
_n = itertools.count(1)


def add_event(env: Any, *, own: bool = True, **changes: Any) -> tuple[int, int]:
    """A new subject at site 01 (own) or 02 with one submitted serious event: (event, subject)."""
    from datetime import date

    fields = {**SERIOUS, **changes}
    with write_session(env.engine) as s:
        admin = actor_for(env.users["admin"])
        subject = add_subject(
            session=s,
            actor=admin,
            study_id=env.study_id,
            site=env.site1 if own else env.site2,
            subjid=f"R{next(_n):04d}",
            arm=env.arms["BELI+PRED"],
            consent_date=date(2021, 1, 5),
        )
        event, _ = create_event(
            session=s, actor=admin, subject=subject, data=EventInput(**fields), submit=True
        )
        return event.id, subject.id  # type: ignore[return-value]


def event(env: Any, event_id: int) -> AdverseEvent:
    with read_session(env.engine) as s:
        found = s.get(AdverseEvent, event_id)
        assert found is not None
        return found


def version(env: Any, event_id: int) -> int:
    return event(env, event_id).version


def queries(env: Any, event_id: int) -> list[SafetyQuery]:
    with read_session(env.engine) as s:
        return list(s.exec(select(SafetyQuery).where(SafetyQuery.event_id == event_id)))


def reports(env: Any, event_id: int) -> list[ExpeditedReport]:
    with read_session(env.engine) as s:
        return list(
            s.exec(
                select(ExpeditedReport)
                .where(
                    ExpeditedReport.event_id == event_id,
                    ExpeditedReport.kind != "investigator_sae_24h",
                )
                .order_by(ExpeditedReport.due_date)
            )
        )


def post(client: TestClient, csrf: str | None, url: str, **data: str) -> Any:
    body = dict(data)
    if csrf is not None:
        body["csrf_token"] = csrf
    return client.post(url, data=body, follow_redirects=False)


def assessment_form(env: Any, event_id: int, **changes: str) -> dict[str, str]:
    form = {
        "version": str(version(env, event_id)),
        "awareness_date": "2021-03-04",
        "seriousness_confirmed": "Y",
        "causality.belimumab": "probable",
        "causality.prednisone": "unlikely",
        "password": PASSWORD,  # the officer's own: the assessment is signed "assessed"
    }
    return {**form, **changes}


def text_of(html: str) -> str:
    """The page's visible text, whitespace collapsed (for phrases split by tags)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
