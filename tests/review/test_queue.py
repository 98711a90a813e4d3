"""The review queue: order, keyset pagination, filters, counts; and `sae-clocks`."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import select

from pv.cli import main
from pv.db import _engines, read_session, write_session
from pv.events.models import AdverseEvent, Status
from pv.review import service as review
from pv.review.queue import PRIORITY, QueueFilters, decode_cursor, queue_page, status_counts
from pv.settings import get_settings
from pv.study.models import Subject

from .conftest import FATAL_SEPSIS, LUNG, MILD_HEADACHE, PASSWORD, SERIOUS_PNEUMONIA, World

IRR_MILD = {**MILD_HEADACHE, "aeterm": "chills", "aelltcd": "10051792", "aetoxgr": 2}


@pytest.fixture
def queue(world: World) -> World:
    """21 events in every status, both sites and arms; one overdue SUSAR, one open query."""
    officer = world.actor("officer")
    ids = []
    for i in range(12):
        fields = (SERIOUS_PNEUMONIA, MILD_HEADACHE, IRR_MILD)[i % 3]
        ids.append(
            world.report(
                fields, site="01" if i % 2 else "02", arm="PRED" if i % 4 == 2 else "BELI+PRED"
            )
        )
    world.report(MILD_HEADACHE, submit=False)  # a draft
    with write_session(world.engine) as s:
        for ev in ids[:6]:
            review.start_review(session=s, actor=officer, event_id=ev, expected_version=1)
        review.open_query(
            session=s,
            actor=officer,
            event_id=ids[1],
            expected_version=2,
            question="When did it stop?",
        )
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=ids[0],
            expected_version=2,
            awareness_date=date(2021, 3, 4),
            seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "possible"},
            password=PASSWORD,
        )
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=ids[3],
            expected_version=2,
            awareness_date=date(2021, 3, 4),
            seriousness_confirmed=False,
            causality={"belimumab": "unlikely", "prednisone": "unlikely"},
            password=PASSWORD,
        )
        review.lock_event(
            session=s, actor=officer, event_id=ids[3], expected_version=3, password=PASSWORD
        )
    world.ids = ids  # type: ignore[attr-defined]
    extra = [world.report(FATAL_SEPSIS)]
    for i in range(7):
        extra.append(world.report(SERIOUS_PNEUMONIA, aetoxgr=3 + i % 2, aeslife=bool(i % 2)))
    with write_session(world.engine) as s:  # a second overdue report, on a newer event
        review.start_review(session=s, actor=officer, event_id=extra[3], expected_version=1)
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=extra[3],
            expected_version=2,
            awareness_date=date(2021, 3, 10),
            seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "possible"},
            password=PASSWORD,
        )
    world.extra = extra  # type: ignore[attr-defined]
    return world


def _all(world: World, site_ids=None, drafts=False) -> list[tuple]:
    """Every event as (sort key, id, row), sorted the way the queue promises."""
    with read_session(world.engine) as s:
        rows = s.exec(select(AdverseEvent, Subject).join(Subject)).all()
    out = []
    for e, subj in rows:
        if (e.status == "draft" and not drafts) or (site_ids and e.site_id not in site_ids):
            continue
        out.append(((PRIORITY.index(e.status), -e.updated_at.timestamp(), -e.id), e, subj))
    return sorted(out, key=lambda t: t[0])


def _walk(world: World, limit: int, sort: str = "status", **kw) -> list[int]:
    seen, cursor = [], None
    with read_session(world.engine) as s:
        while True:
            page = queue_page(
                s, study_id=world.study_id, cursor=cursor, limit=limit, sort=sort, **kw
            )
            assert len(page.rows) <= limit
            seen += [r.id for r in page.rows]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 4, 7, 50])
def test_pages_cover_every_event_once_new_and_changed_first(queue: World, limit: int):
    assert _walk(queue, limit) == [e.id for _, e, _ in _all(queue)]
    with read_session(queue.engine) as s:
        first = queue_page(s, study_id=queue.study_id, limit=3, sort="status").rows
    assert [r.status for r in first] == ["submitted"] * 3
    assert first[0].updated_at >= first[1].updated_at >= first[2].updated_at


def test_an_event_arriving_between_pages_does_not_shift_the_next_page(queue: World):
    with read_session(queue.engine) as s:
        one = queue_page(s, study_id=queue.study_id, limit=5, sort="status")
        two = queue_page(s, study_id=queue.study_id, limit=5, cursor=one.next_cursor, sort="status")
    new = queue.report(SERIOUS_PNEUMONIA)  # newest of all: sorts before the cursor
    with read_session(queue.engine) as s:
        again = queue_page(
            s, study_id=queue.study_id, limit=5, cursor=one.next_cursor, sort="status"
        )
        top = queue_page(s, study_id=queue.study_id, limit=5, sort="status").rows[0]
    assert [r.id for r in again.rows] == [r.id for r in two.rows]
    assert again.next_cursor == two.next_cursor and top.id == new


def test_filters_and_counts_agree_with_the_rows(queue: World):
    arms = {s.arm_id for _, _, s in _all(queue)}
    site1 = queue.sites["01"].id
    cases = {
        QueueFilters(site_id=site1): lambda e, s: e.site_id == site1,
        QueueFilters(arm_id=min(arms)): lambda e, s: s.arm_id == min(arms),
        QueueFilters(aesi="infection", serious=True): lambda e, s: (
            e.aeser and e.aelltcd in (LUNG, "10040047")
        ),
        QueueFilters(aesi="infusion_reaction"): lambda e, s: e.aelltcd == "10051792",
        QueueFilters(serious=False): lambda e, s: not e.aeser,
        QueueFilters(grade3=True): lambda e, s: e.aetoxgr >= 3,
        QueueFilters(status="under_review"): lambda e, s: e.status == "under_review",
        QueueFilters(overdue=True): lambda e, s: e.id in (queue.ids[0], queue.extra[3]),
        QueueFilters(overdue=True, site_id=site1): lambda e, s: e.id == queue.extra[3],
    }
    for filters, keep in cases.items():
        want = [e for _, e, s in _all(queue) if keep(e, s)]
        assert want, filters
        assert _walk(queue, 3, filters=filters) == [e.id for e in want], filters
        assert _walk(queue, 1, filters=filters) == [e.id for e in want], filters
        with read_session(queue.engine) as s:
            counts = status_counts(
                s,
                study_id=queue.study_id,
                filters=QueueFilters(**{**filters.__dict__, "status": None}),
            )
        if filters.status is None:
            expected = Counter(e.status for e in want)
            assert counts == {st.value: expected.get(st.value, 0) for st in PRIORITY[:-1]}


def test_rows_carry_open_queries_deadlines_and_assessment(queue: World):
    with read_session(queue.engine) as s:
        rows = {r.id: r for r in queue_page(s, study_id=queue.study_id, limit=100).rows}
    assessed, queried = rows[queue.ids[0]], rows[queue.ids[1]]
    assert (assessed.status, assessed.is_susar, assessed.overdue) == ("assessed", True, True)
    assert assessed.next_due == date(2021, 3, 19) and not assessed.changed_since_assessment
    assert (queried.status, queried.open_queries) == ("queried", 1)
    assert rows[queue.ids[3]].status == "locked" and rows[queue.ids[3]].is_susar is False
    assert rows[queue.ids[2]].is_susar is None


def test_an_investigator_sees_only_their_site_drafts_included(queue: World):
    site = {queue.sites["01"].id}
    ids = _walk(queue, 4, site_ids=site, include_drafts=True)
    assert ids == [e.id for _, e, _ in _all(queue, site_ids=site, drafts=True)]
    assert "draft" in {e.status for _, e, _ in _all(queue, site_ids=site, drafts=True)}


def test_a_forged_cursor_is_refused(queue: World):
    for bad in ("nonsense", "W10", "WyJhIl0"):
        with pytest.raises(ValueError):
            decode_cursor(bad)


def test_sae_clocks_json(queue: World, db_url, monkeypatch, capsys):
    officer = queue.actor("officer")
    fatal = [e.id for _, e, _ in _all(queue) if e.aesdth][0]
    with write_session(queue.engine) as s:
        review.start_review(session=s, actor=officer, event_id=fatal, expected_version=1)
        review.save_assessment(
            session=s,
            actor=officer,
            event_id=fatal,
            expected_version=2,
            awareness_date=date(2024, 2, 22),
            seriousness_confirmed=True,
            causality={"belimumab": "possible", "prednisone": "unlikely"},
            password=PASSWORD,
        )
    monkeypatch.setenv("PV_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        assert (
            main(["sae-clocks", "--study", queue.study_id, "--json", "--today", "2024-02-28"]) == 0
        )
        items = json.loads(capsys.readouterr().out)
        assert main(["sae-clocks", "--study", "NCT00000000"]) == 2
        assert main(["sae-clocks", "--study", queue.study_id]) == 0
        assert "initial_7" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()
        _engines.pop(db_url, None)
    mine = {i["kind"]: i for i in items if i["event_id"] == fatal}
    assert mine["initial_7"] | {"report_id": 0} == {
        "report_id": 0,
        "event_id": fatal,
        "site_id": queue.sites["01"].id,
        "usubjid": mine["initial_7"]["usubjid"],
        "term": "Sepsis",
        "kind": "initial_7",
        "awareness_date": "2024-02-22",
        "clock_days": 7,
        "due_date": "2024-02-29",
        "due_at": None,
        "fatal_or_life_threatening": True,
        "submitted_date": None,
        "status": "open",
        "due_soon": True,
        "late": False,
        "days_left": 1,
    }
    assert (mine["followup_8"]["due_date"], mine["followup_8"]["status"]) == ("2024-03-08", "open")
    assert mine["investigator_sae_24h"]["status"] == "submitted"
    other = [i for i in items if i["event_id"] == queue.ids[0] and i["kind"] == "initial_15"]
    assert other[0]["status"] == "overdue" and other[0]["due_date"] == "2021-03-19"
    assert [i["status"] for i in items] == sorted(
        (i["status"] for i in items), key=lambda st: st == "submitted"
    )
    with read_session(queue.engine) as s:
        usubjid = s.get(Subject, s.get(AdverseEvent, fatal).subject_id).usubjid
    assert mine["initial_7"]["usubjid"] == usubjid and Status.assessed == "assessed"


def _tally_vs_events(world: World) -> tuple[dict, dict]:
    with read_session(world.engine) as s:
        tally = {
            tuple(r[:-1]): r[-1]
            for r in s.exec(
                text(
                    "SELECT study_id, site_id, arm_id, status, serious, grade3, aesi, n "
                    "FROM queue_tally"
                )
            )
            if r[-1]
        }
        direct = Counter()
        for e, subj in s.exec(select(AdverseEvent, Subject).join(Subject)).all():
            serious = -1 if e.aeser is None else int(e.aeser)
            direct[
                (
                    e.study_id,
                    e.site_id,
                    subj.arm_id or 0,
                    e.status,
                    serious,
                    int((e.aetoxgr or 0) >= 3),
                    e.aesi,
                )
            ] += 1
    return tally, dict(direct)


def test_the_tally_follows_every_write_path(queue: World):
    tally, direct = _tally_vs_events(queue)
    assert tally == direct and sum(direct.values()) == 21
    with write_session(queue.engine) as s:  # writes that bypass the services
        s.execute(
            text("UPDATE adverseevent SET aetoxgr = 4, aesi = 'infection' WHERE id = :i"),
            {"i": queue.ids[2]},
        )
        s.execute(
            text(
                "UPDATE subject SET arm_id = NULL WHERE id = "
                "(SELECT subject_id FROM adverseevent WHERE id = :i)"
            ),
            {"i": queue.ids[4]},
        )
        s.execute(text("DELETE FROM adverseevent WHERE id = :i"), {"i": queue.ids[5]})
    tally, direct = _tally_vs_events(queue)
    assert tally == direct and sum(direct.values()) == 20


def test_an_aesi_key_matches_whole_keys_only(engine) -> None:
    """The AESI filter on the comma-separated keys: the key alone, first, last or inside,
    never a key that merely contains it, and LIKE wildcards in a key are literal."""
    import sqlalchemy as sa

    from pv.review.queue import _has_key

    values = {
        "infusion_reaction": True,
        "infusion_reaction,gc_toxicity": True,
        "infection,infusion_reaction": True,
        "infection,infusion_reaction,gc_toxicity": True,
        "possible_infusion_reaction": False,
        "infection,possible_infusion_reaction": False,
        "infusion_reactions": False,
        "infusionXreaction": False,  # "_" is not a wildcard
        "": False,
    }
    union = sa.union_all(*(sa.select(sa.literal(v).label("aesi")) for v in values)).subquery()
    q = sa.select(union.c.aesi).where(_has_key(union.c.aesi, "infusion_reaction"))
    with engine.connect() as conn:
        found = set(conn.execute(q).scalars())
    assert found == {v for v, hit in values.items() if hit}
