"""Tampering as the tables' owner (the triggers removed or disabled), on SQLite and
PostgreSQL: an entry edited, deleted, inserted or reordered, or a back-dated entry appended;
`pvtracker audit verify` names the entry and what happened, exit status 1, and finds the
trail intact again once the tamper is undone."""

from __future__ import annotations

import pytest

from pv.audit.verify import verify
from tests.audit.tamper import KINDS, restore, snapshot, tamper

WORDS = {
    "changed": "content changed",
    "missing": "an entry before it is missing",
    "inserted": "inserted",
    "reordered": "reordered",
    "time": "time goes backwards",
}


@pytest.mark.parametrize("kind", KINDS)
def test_verify_names_each_tamper(trail, db_url, cli, kind) -> None:
    original = snapshot(trail)
    assert len(original) >= 6
    target = original[2]["id"]  # well inside the trail: entries before and after it
    assert verify(trail).intact

    named = tamper(trail, kind, target)
    result = verify(trail)
    assert result.problem is not None
    assert (result.problem.kind, result.problem.entry_id) == (kind, named)
    if kind == "reordered":
        assert result.problem.other_id == original[3]["id"]
    code, out, _err = cli(db_url, "audit", "verify")
    assert code == 1
    assert f"audit trail BROKEN: entry {named}: {WORDS[kind]}" in out

    restore(trail, original)
    assert snapshot(trail) == original
    assert verify(trail).intact
    code, out, _err = cli(db_url, "audit", "verify")
    assert code == 0 and f"intact: {len(original)} entries" in out


def test_the_expected_ids_of_each_tamper(trail) -> None:
    """The ids each tamper must be named by, worked out from the trail's ids by hand."""
    ids = [r["id"] for r in snapshot(trail)]
    original = snapshot(trail)
    expected = {
        "changed": ids[2],  # the edited entry itself
        "missing": ids[3],  # the entry after the deleted one
        "inserted": ids[2] + 1,  # the forged entry, put right after the target
        "reordered": ids[2],  # the first of the two swapped
        "time": ids[-1] + 1,  # the back-dated entry appended
    }
    for kind in KINDS:
        assert tamper(trail, kind, ids[2]) == expected[kind]
        restore(trail, original)
    assert verify(trail).intact


def test_a_digest_missing_is_named(trail) -> None:
    from sqlalchemy import text

    from tests.audit.tamper import owner_without_triggers

    ids = [r["id"] for r in snapshot(trail)]
    with owner_without_triggers(trail) as conn:
        conn.execute(text("UPDATE audit_log SET digest = NULL WHERE id = :i"), {"i": ids[1]})
    result = verify(trail)
    assert result.problem is not None
    assert (result.problem.kind, result.problem.entry_id) == ("no-digest", ids[1])
    assert result.count == 1
