"""Issue 17 point 3: a worker refreshes its kept tier-1 keys by merging in the events
changed since its last read, instead of reading the whole range again; pages stay what a
fresh read gives."""

from __future__ import annotations

from datetime import timedelta

from pv.review import queue as queue_module

from .conftest import SERIOUS_PNEUMONIA, World
from .test_q15_urgency import (  # noqa: F401 (queue: the fixture)
    _arrives_while_one_left,
    _assess,
    _expected,
    _walk,
    queue,
)


def _kept(world: World) -> list[list[tuple[int, int]]]:
    return [v[2] for k, v in queue_module._NEW_SERIOUS.items() if k[1] == world.study_id]


def test_refreshed_keys_merge_the_changes_and_never_misplace_an_event(queue: World, monkeypatch):  # noqa: F811
    monkeypatch.setattr(queue_module, "RECENT_MARGIN", timedelta(0))
    monkeypatch.setattr(queue_module, "NEW_SERIOUS_TTL", 0.0)  # refresh at every page
    monkeypatch.setattr(queue_module, "NEW_SERIOUS_REBUILD", 3600.0)  # never read it all again
    queue_module._NEW_SERIOUS.clear()
    leaving = queue.report(SERIOUS_PNEUMONIA)
    assert _walk(queue, 2, "urgency") == _expected(queue)  # the keys are read and kept
    read_at = {k: v[3] for k, v in queue_module._NEW_SERIOUS.items()}
    _assess(queue, leaving)  # assessed: leaves tier 1
    arriving = _arrives_while_one_left(queue, leaving)
    # Refreshed by merging: the arriving event's key is kept now, the whole range was not
    # read again (same full-read time), and the leaving one's stale key is only skipped.
    assert {k: v[3] for k, v in queue_module._NEW_SERIOUS.items()} == read_at
    assert any(arriving in {i for _, i in keys} for keys in _kept(queue))
