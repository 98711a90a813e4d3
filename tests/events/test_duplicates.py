"""Likely duplicates: the rule (pure) and create_event's refusal (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from pv.audit.service import Actor
from pv.db import read_session, write_session
from pv.events.duplicates import DuplicateEvent, confirmed, duplicate_key, onset_day
from pv.events.models import AdverseEvent
from pv.events.rules import EventInput
from pv.events.service import create_event
from pv.study.models import Subject
from tests.imports.conftest import upload_study  # noqa: F401  (the study fixture)

ACTOR = Actor(username="inv1", user_id=None, role="investigator")
HEADACHE, NAUSEA = "10019211", "10028813"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("2021-03-15", "2021-03-15", True),
        ("2021-03-15T08:00", "2021-03-15", True),  # a time of day is ignored
        ("2021-03-15T08:00", "2021-03-15T21:30", True),
        (" 2021-03-15 ", "2021-03-15", True),
        ("2021-03", "2021-03", True),  # the same partial date
        ("2021-03", "2021-03-15", False),  # another precision: not guessed
        ("2021", "2021-03", False),
        ("2021-03-15", "2021-03-16", False),
    ],
)
def test_onsets_compare_up_to_the_day(a: str, b: str, same: bool) -> None:
    assert (duplicate_key(1, HEADACHE, a) == duplicate_key(1, HEADACHE, b)) is same
    assert (onset_day(a) == onset_day(b)) is same


def test_a_key_needs_a_code_and_an_onset_and_names_the_subject() -> None:
    assert duplicate_key(1, HEADACHE, "2021-03-15") == (1, HEADACHE, "2021-03-15")
    assert duplicate_key(1, HEADACHE, "2021-03-15") != duplicate_key(2, HEADACHE, "2021-03-15")
    assert duplicate_key(1, HEADACHE, "2021-03-15") != duplicate_key(1, NAUSEA, "2021-03-15")
    for code, onset in ((None, "2021-03-15"), (" ", "2021-03-15"), (HEADACHE, None),
                        (HEADACHE, ""), (HEADACHE, "T10:00")):  # fmt: skip
        assert duplicate_key(1, code, onset) is None


def _headache(onset: str = "2021-03-05", **over: object) -> EventInput:
    values: dict[str, object] = dict(
        aeterm="headache", aelltcd=HEADACHE, aetoxgr=1, aeser=False, aestdtc=onset,
        aeendtc="2021-03-20", aeout="RECOVERED/RESOLVED",
        aerel={"belimumab": "NOT RELATED", "prednisone": "NOT RELATED"},
    )  # fmt: skip
    values.update(over)
    return EventInput(**values)  # type: ignore[arg-type]


def _create(env, data: EventInput, *, subjid: str = "0012", submit: bool = True,  # type: ignore[no-untyped-def]
            confirm: bool | frozenset[int] = False) -> int:  # fmt: skip
    with write_session(env.engine) as s:
        subject = s.exec(select(Subject).where(Subject.usubjid == env.subject(subjid))).one()
        event, _ = create_event(session=s, actor=ACTOR, subject=subject, data=data,
                                submit=submit, confirm_duplicate=confirm)  # fmt: skip
        return event.id  # type: ignore[return-value]


def _count(env) -> int:  # type: ignore[no-untyped-def]
    with read_session(env.engine) as s:
        return s.exec(select(func.count()).select_from(AdverseEvent)).one()


def test_the_same_event_twice_is_refused_naming_the_stored_one(upload_study) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    env = upload_study
    first = _create(env, _headache())
    with pytest.raises(DuplicateEvent) as info:
        _create(env, _headache(aeterm="bad headache", aetoxgr=2))  # other words, other grade
    assert info.value.existing_ids == [first]
    (stored,) = info.value.existing
    assert (stored.aeseq, stored.aelltcd, stored.aestdtc, stored.aetoxgr) == (
        1, HEADACHE, "2021-03-05", 1)  # fmt: skip
    assert "AESEQ 1" in str(info.value)
    assert _count(env) == 1  # nothing stored
    # Confirmed, it is stored as the subject's next event.
    second = _create(env, _headache(), confirm=True)
    assert second != first and _count(env) == 2
    # A third one names both stored events, oldest first.
    with pytest.raises(DuplicateEvent) as info:
        _create(env, _headache("2021-03-05T09:15"))
    assert info.value.existing_ids == [first, second]
    assert [e.aeseq for e in info.value.existing] == [1, 2]


def test_other_subject_term_or_day_is_not_a_duplicate(upload_study) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    env = upload_study
    _create(env, _headache())
    _create(env, _headache(), subjid="007")
    _create(env, _headache("2021-03-06"))
    _create(env, _headache(aelltcd=NAUSEA, aeterm="nausea"))
    _create(env, _headache("2021-03", aeendtc="2021-04"))  # partial: another precision
    assert _count(env) == 5
    with pytest.raises(DuplicateEvent):
        _create(env, _headache("2021-03", aeendtc="2021-04"))  # the same partial date


def test_drafts_count_and_a_draft_without_onset_never_matches(upload_study) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    env = upload_study
    draft = _create(env, EventInput(aeterm="headache", aelltcd=HEADACHE, aestdtc="2021-03-05"),
                    submit=False)  # fmt: skip
    with pytest.raises(DuplicateEvent) as info:
        _create(env, _headache())
    assert info.value.existing_ids == [draft]
    # Drafts without an onset (or a code) are never likely duplicates.
    _create(env, EventInput(aeterm="headache", aelltcd=HEADACHE), submit=False)
    _create(env, EventInput(aeterm="headache", aelltcd=HEADACHE), submit=False)
    assert _count(env) == 3


def test_a_confirmation_by_ids_covers_only_those_events(upload_study) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    env = upload_study
    first = _create(env, _headache())
    with pytest.raises(DuplicateEvent):
        _create(env, _headache(), confirm=frozenset({first + 1000}))
    second = _create(env, _headache(), confirm=frozenset({first}))
    # Now both are stored: confirming only the first no longer covers a third.
    with pytest.raises(DuplicateEvent) as info:
        _create(env, _headache(), confirm=frozenset({first}))
    assert info.value.existing_ids == [first, second]
    assert _create(env, _headache(), confirm=frozenset({first, second})) > second


def test_confirmed_helper() -> None:
    from pv.events.duplicates import StoredEvent

    found = [StoredEvent(id=i, subject_id=1, aeseq=i, aeterm="x", aedecod=None, aelltcd="1",
                         aestdtc="2021", aetoxgr=None, status="draft") for i in (3, 5)]  # fmt: skip
    assert confirmed(True, found) and not confirmed(False, found)
    assert confirmed({3, 5, 9}, found) and not confirmed({3}, found) and not confirmed([], found)


def test_the_same_event_posted_twice_at_once_is_stored_once(upload_study) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    """Two writers at once (SQLite: BEGIN IMMEDIATE; PostgreSQL: the subject's row lock):
    whichever stores first, the other finds its event and is refused."""
    import threading

    env = upload_study
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def post() -> None:
        barrier.wait()
        try:
            outcomes.append(_create(env, _headache()))
        except DuplicateEvent as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stored = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, DuplicateEvent)]
    assert len(stored) == 1 and len(refused) == 1
    assert refused[0].existing_ids == stored
    assert _count(env) == 1
