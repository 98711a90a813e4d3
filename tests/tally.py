"""The review queue's tally against a direct count of the events (tests of every path that
writes events: triggers, bulk inserts, migrations)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

# Counted from the events themselves, by the tally's key (pv.review.models.QueueTally).
DIRECT_SQL = (
    "SELECT e.study_id, e.site_id, COALESCE(s.arm_id, 0), e.status, "
    "CASE WHEN e.aeser IS NULL THEN -1 WHEN e.aeser THEN 1 ELSE 0 END, "
    "CASE WHEN e.aetoxgr >= 3 THEN 1 ELSE 0 END, COALESCE(e.aesi, ''), count(*) "
    "FROM adverseevent e JOIN subject s ON s.id = e.subject_id GROUP BY 1, 2, 3, 4, 5, 6, 7"
)
TALLY_SQL = (
    "SELECT study_id, site_id, arm_id, status, serious, grade3, aesi, n "
    "FROM queue_tally WHERE n <> 0"
)


def tally_and_direct(engine: Any) -> tuple[dict[tuple, int], dict[tuple, int]]:
    """(the tally, a direct count), each keyed by the tally's key; equal when kept right."""
    with engine.connect() as conn:
        direct = {tuple(r[:-1]): r[-1] for r in conn.execute(text(DIRECT_SQL))}
        tally = {tuple(r[:-1]): r[-1] for r in conn.execute(text(TALLY_SQL))}
    return tally, direct
