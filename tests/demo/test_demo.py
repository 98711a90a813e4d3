"""The demo trial: shape, determinism, rules, dosing and the safety signals it must show."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from pv.db import make_engine, read_session
from pv.demo.generate import (
    _CATALOGUE,
    BELIMUMAB,
    INFUSION_DAYS,
    PREDNISONE,
    DemoSummary,
    build_demo,
    plan_demo,
)
from pv.events.dates import parse_dtc
from pv.events.models import OUTCOMES, SERIOUS_CRITERIA, AdverseEvent
from pv.events.rules import check_event
from pv.events.service import subject_drugs, to_input
from pv.exposure import derive
from pv.exposure.models import Exposure
from pv.migrate import upgrade
from pv.study.models import Arm, Drug, Site, Subject
from pv.terminology.models import Term
from pv.timeutil import today

SEED = 42
COMBINATION = "Combination therapy Group"
MONOTHERAPY = "Glucocorticoid monotherapy Group"


@pytest.fixture
def demo(engine: Engine) -> DemoSummary:
    return build_demo(engine, seed=SEED)


def _arms(session: Session) -> dict[int, str]:
    return {a.id: a.label for a in session.exec(select(Arm))}  # type: ignore[misc]


def _subjects(session: Session) -> dict[int, Subject]:
    return {s.id: s for s in session.exec(select(Subject))}  # type: ignore[misc]


def _events(session: Session) -> list[AdverseEvent]:
    return list(session.exec(select(AdverseEvent).order_by(col(AdverseEvent.id))))


def _exposures(session: Session) -> dict[int, list[Exposure]]:
    out: dict[int, list[Exposure]] = defaultdict(list)
    for e in session.exec(select(Exposure).order_by(col(Exposure.start), col(Exposure.id))):
        out[e.subject_id].append(e)
    return out


def _drug_ids(session: Session) -> dict[str, int]:
    return {d.key: d.id for d in session.exec(select(Drug))}  # type: ignore[misc]


def _fingerprint(engine: Engine) -> tuple[Any, ...]:
    """Everything the demo writes that the seed decides (not ids or audit time stamps)."""
    with read_session(engine) as s:
        subjects = _subjects(s)
        arms = _arms(s)
        drugs = {v: k for k, v in _drug_ids(s).items()}
        people = sorted(
            (x.usubjid, arms[x.arm_id], x.sex, x.age, x.weight_kg, x.consent_date,  # type: ignore[index]
             x.randomization_date, x.end_of_study_date, x.race, x.height_cm, x.died,
             x.death_date, x.death_cause, x.disposition, x.disposition_date,
             x.disposition_reason)
            for x in subjects.values()
        )  # fmt: skip
        dosing = sorted(
            (subjects[e.subject_id].usubjid, drugs[e.drug_id], e.dose, e.unit, e.dose_mg, e.route,
             e.frequency, e.start, e.end)
            for e in s.exec(select(Exposure))
        )  # fmt: skip
        events = sorted(
            (subjects[e.subject_id].usubjid, e.aeseq, e.aeterm, e.aelltcd, e.aetoxgr, e.aestdtc,
             e.aeendtc, e.ongoing, e.aeout, e.aeser, tuple(e.criteria()),
             tuple(sorted(e.aerel.items())), tuple(sorted(e.aeacn.items())), e.aecontrt,
             e.narrative, e.aesi, e.status)
            for e in _events(s)
        )  # fmt: skip
    return tuple(people), tuple(dosing), tuple(events)


def _fresh_sqlite(path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    return eng


def test_sixty_subjects_randomized_one_to_one(engine: Engine, demo: DemoSummary) -> None:
    assert demo.study_id == "NCT04660565"
    assert demo.subjects_per_arm == {MONOTHERAPY: 30, COMBINATION: 30}
    assert demo.created
    assert 150 <= demo.events <= 250
    assert sum(demo.events_per_arm.values()) == demo.events
    assert 2 <= demo.serious <= 12
    with read_session(engine) as s:
        sites = {x.id: x.code for x in s.exec(select(Site))}
        assert sorted(sites.values()) == ["01", "02", "03"]
        assert sorted(demo.subjects_per_site) == ["01", "02", "03"]
        assert sum(demo.subjects_per_site.values()) == 60
        subjects = list(_subjects(s).values())
        assert len(subjects) == 60
        males = sum(x.sex == "M" for x in subjects)
        assert 0.5 <= males / 60 <= 0.8
        deaths = {e.subject_id: e for e in _events(s) if e.aesdth}
        for x in subjects:
            assert re.fullmatch(rf"NCT04660565-{sites[x.site_id]}-\d{{3}}", x.usubjid)
            assert x.age is not None and 18 <= x.age <= 75
            assert x.weight_kg is not None and 50 <= x.weight_kg <= 95
            assert x.consent_date and x.randomization_date and x.end_of_study_date
            assert 1 <= (x.randomization_date - x.consent_date).days <= 10
            assert date(2021, 1, 11) <= x.randomization_date <= date(2021, 7, 31)
            year_later = x.randomization_date.replace(year=x.randomization_date.year + 1)
            if x.id in deaths:
                assert x.end_of_study_date == date.fromisoformat(deaths[x.id].aeendtc or "")
            elif x.disposition == "COMPLETED":
                assert x.end_of_study_date == year_later
            else:  # discontinued (tests/demo/test_demo_showcase.py)
                assert x.end_of_study_date < year_later
            assert x.end_of_study_date < today()
    # The demo command may run twice on the same database: the second run adds nothing.
    again = build_demo(engine, seed=SEED + 1)
    assert not again.created
    assert again == DemoSummary(**{**demo.__dict__, "created": False})


def test_same_seed_same_data_other_seed_differs(
    engine: Engine, demo: DemoSummary, tmp_path: Path
) -> None:
    twin = _fresh_sqlite(tmp_path / "twin.sqlite")
    other = _fresh_sqlite(tmp_path / "other.sqlite")
    try:
        build_demo(twin, seed=SEED)
        build_demo(other, seed=SEED + 1)
        mine = _fingerprint(engine)
        assert _fingerprint(twin) == mine
        people, dosing, events = _fingerprint(other)
        assert events != mine[2]
        assert dosing != mine[1]
        assert people != mine[0]
    finally:
        twin.dispose()
        other.dispose()


def test_every_event_obeys_the_rules(engine: Engine, demo: DemoSummary) -> None:
    with read_session(engine) as s:
        subjects, arms = _subjects(s), _arms(s)
        terms = {t.id: t for t in s.exec(select(Term))}
        by_code = {t.code: t for t in terms.values()}
        for ae in _CATALOGUE:  # the demo's catalogue names real CTCAE terms and grades
            assert by_code[ae.code].term == ae.term
            assert all(by_code[ae.code].grade_text(g) for g, _ in ae.grades), ae.term
        events = _events(s)
        for e in events:
            subject = subjects[e.subject_id]
            keys = [d.key for d in subject_drugs(s, subject)]
            combination = arms[subject.arm_id] == COMBINATION  # type: ignore[index]
            assert sorted(keys) == ([BELIMUMAB, PREDNISONE] if combination else [PREDNISONE])
            term = terms[e.term_id]  # type: ignore[index]
            found = check_event(
                to_input(e),
                term=term,
                drug_keys=keys,
                consent_date=subject.consent_date,
                today=today(),
                submit=True,
            )
            assert found.ok, (e.aeterm, found.errors)
            # The invariants, checked again on the stored row itself.
            assert e.status in ("submitted", "assessed")  # the review demo assesses a few
            assert e.terminology == "CTCAE 5.0" and e.aedecod == term.term
            assert e.aetoxgr is not None and term.grade_text(e.aetoxgr) is not None
            assert (e.aetoxgr == 5) == (e.aeout == "FATAL") == e.aesdth
            assert e.aeser == any(getattr(e, c) for c in SERIOUS_CRITERIA)
            assert not e.aeser or (e.narrative or "").strip()
            assert sorted(e.aerel) == sorted(keys) and sorted(e.aeacn) == sorted(keys)
            assert e.aeout in OUTCOMES
            assert e.ongoing == (e.aeendtc is None)
            if e.ongoing:
                assert e.aeout in ("NOT RECOVERED/NOT RESOLVED", "RECOVERING/RESOLVING")
            # Onset within the subject's study participation (first dose to end of study).
            assert e.aestdtc is not None and subject.randomization_date is not None
            onset = parse_dtc(e.aestdtc)
            assert onset.latest_date >= subject.randomization_date
            assert onset.earliest_date <= subject.end_of_study_date  # type: ignore[operator]
        deaths = [e for e in events if e.aesdth]
        assert len(deaths) == 1 == demo.deaths
        assert deaths[0].aetoxgr == 5 and deaths[0].aeout == "FATAL" and deaths[0].aeser
        assert demo.serious == sum(e.aeser for e in events) > 1
        assert any(e.ongoing for e in events)


def test_dosing_follows_the_protocol(engine: Engine, demo: DemoSummary) -> None:
    with read_session(engine) as s:
        subjects, arms, drug = _subjects(s), _arms(s), _drug_ids(s)
        dosing = _exposures(s)
        events: dict[int, list[AdverseEvent]] = defaultdict(list)
        for e in _events(s):
            events[e.subject_id].append(e)
        assert set(dosing) == set(subjects)
        for sid, records in dosing.items():
            x = subjects[sid]
            combination = arms[x.arm_id] == COMBINATION  # type: ignore[index]
            pred = [e for e in records if e.drug_id == drug[PREDNISONE]]
            beli = [e for e in records if e.drug_id == drug[BELIMUMAB]]
            assert pred and all(e.frequency == "QD" and e.unit == "mg" for e in pred)
            first = x.randomization_date
            assert first is not None and derive.first_dose(records).date() == first  # type: ignore[union-attr]
            # Prednisone: 0.6-0.8 mg/kg/day, never increased, <= 5 mg/day from day 90 on.
            last = derive.last_dose(pred)
            assert last is not None

            def daily(day: date, pred: list[Exposure] = pred) -> float:
                before = derive.cumulative_dose_mg(pred, day - timedelta(days=1))
                return derive.cumulative_dose_mg(pred, day) - before

            start_dose = daily(first)
            assert start_dose % 5 == 0
            assert 0.6 <= start_dose / x.weight_kg <= 0.8  # type: ignore[operator]
            doses = [daily(first + timedelta(days=d)) for d in range((last - first).days + 1)]
            assert all(b <= a for a, b in zip(doses, doses[1:], strict=False))
            assert all(0 < d <= 5 for d in doses[90:]), (x.usubjid, doses[85:95])
            assert doses[13] == start_dose  # at least two weeks of induction
            # Belimumab: combination arm only, 10 mg/kg IV at weeks 0, 2, 4, then every 4 weeks.
            if not combination:
                assert not beli
                continue
            starts = derive.infusion_starts(beli, drug[BELIMUMAB])
            offsets = [(t.date() - first).days for t in starts]
            assert offsets[:3] == [0, 14, 28]
            assert set(offsets) <= set(INFUSION_DAYS)
            # An infusion is skipped only after a serious event that interrupted belimumab
            # within the 28 days before it (a serious infection).
            interrupted = [
                (parse_dtc(e.aestdtc or "").earliest_date - first).days
                for e in events.get(sid, [])
                if e.aeser and e.aeacn.get(BELIMUMAB) == "DRUG INTERRUPTED"
            ]
            for day in (d for d in INFUSION_DAYS if offsets[0] < d < offsets[-1]):
                if day not in offsets:
                    assert any(0 <= day - onset <= 28 for onset in interrupted), (x.usubjid, day)
            for e in beli:
                assert (e.dose, e.unit, e.route, e.frequency) == (
                    10,
                    "mg/kg",
                    "INTRAVENOUS",
                    "ONCE",
                )
                assert e.dose_mg == pytest.approx(10 * x.weight_kg)  # type: ignore[operator]
                assert 9 <= e.start.hour <= 11 and e.end is not None
                assert timedelta(minutes=45) <= e.end - e.start <= timedelta(minutes=90)
        # Every combination subject who completed the study has all 14 infusions, unless a
        # serious event interrupted (one infusion skipped) or withdrew belimumab.
        stopped = {e.subject_id for e in _events(s) if e.aeser and e.aeacn.get(BELIMUMAB) in (
            "DRUG INTERRUPTED", "DRUG WITHDRAWN")}  # fmt: skip
        complete = [sid for sid, x in subjects.items()
                    if arms[x.arm_id] == COMBINATION and x.disposition == "COMPLETED"  # type: ignore[index]
                    and sid not in stopped]  # fmt: skip
        assert len(complete) >= 15
        for sid in complete:
            assert sum(e.frequency == "ONCE" for e in dosing[sid]) == 14, subjects[sid].usubjid


def test_safety_signals(engine: Engine, demo: DemoSummary) -> None:
    with read_session(engine) as s:
        subjects, arms, drug = _subjects(s), _arms(s), _drug_ids(s)
        dosing = _exposures(s)
        events = _events(s)
        infected: dict[str, set[int]] = {COMBINATION: set(), MONOTHERAPY: set()}
        gc_toxicity: dict[str, int] = {COMBINATION: 0, MONOTHERAPY: 0}
        for e in events:
            arm = arms[subjects[e.subject_id].arm_id]  # type: ignore[index]
            groups = e.aesi.split(",")
            if "infection" in groups:
                infected[arm].add(e.subject_id)
            if "gc_toxicity" in groups and "infection" not in groups:
                gc_toxicity[arm] += 1
        assert len(infected[COMBINATION]) > len(infected[MONOTHERAPY])
        assert min(gc_toxicity.values()) >= 20
        # Infusion reactions start on an infusion day, within hours of the infusion start.
        reactions = [e for e in events if e.aedecod == "Infusion related reaction"]
        assert len(reactions) >= 5
        for e in reactions:
            onset = derive.days_since_last_infusion(dosing[e.subject_id], _dt(e.aestdtc))
            assert onset is not None and 0 <= onset <= 0.25, (e.aestdtc, onset)
        flagged = [e for e in events if "possible_infusion_reaction" in e.aesi.split(",")]
        assert len(flagged) >= 2
        for e in flagged:
            assert "hypersensitivity" in e.aesi.split(",")
            starts = derive.infusion_starts(dosing[e.subject_id], drug[BELIMUMAB])
            assert starts, "flagged without a belimumab infusion"
        # Some onset dates were collected to the month only and are stored as collected.
        planned = {
            (p.subjid, seq): ev.data.aestdtc
            for p in plan_demo(SEED)
            for seq, ev in enumerate(p.events, start=1)
        }
        stored = {(subjects[e.subject_id].subjid, e.aeseq): e.aestdtc for e in events}
        assert stored == planned
        partial = [d for d in stored.values() if d and re.fullmatch(r"\d{4}-\d{2}", d)]
        assert len(partial) >= 3


def _dt(text: str | None) -> datetime:
    assert text
    return parse_dtc(text).earliest
