"""The shortcuts of the bulk write path give exactly what the plain path gives (pure)."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import fields, replace

import pytest

from pv.events import bulk
from pv.events.bulk import _AUDITED, EVENT_COLUMNS, _changes, _changes_text
from pv.events.rules import EventInput
from pv.events.service import clean_input, is_clean

TEXTS = ["", " ", "x", " x", "x ", "x\n", "\u00a0x", "caf\u00e9", 'say "hi"\\', "\u2603",
         "\U0001f600", "a\tb", "\x00\x1f", "NCT04660565-01-0012", "2021-03"]  # fmt: skip
VALUES = [None, True, False, 0, 1, -7, 2**70, 1.5, float("nan"), float("inf"),
          {"belimumab": "RELATED"}, {}, {"x\u00e9": ["a", 1, None]}, *TEXTS]  # fmt: skip


def _rows(n: int, seed: int = 3) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    return [tuple(rng.choice(VALUES) for _ in EVENT_COLUMNS) for _ in range(n)]


def test_audit_text_is_json_dumps_of_what_create_event_audits() -> None:
    cache: dict[int, tuple[object, str]] = {}

    def object_json(value: object) -> str:  # as _SqliteWriter._small_json: by identity
        hit = cache.get(id(value))
        if hit is None or hit[0] is not value:
            hit = cache[id(value)] = (value, json.dumps(value))
        return hit[1]

    text = _changes_text(json.dumps, object_json)
    assert text.__name__ == "fast"
    for row in _rows(3000):
        assert text(row) == json.dumps(_changes(row))
    empty = (None,) * len(EVENT_COLUMNS)
    assert text(empty) == json.dumps(_changes(empty)) == "{}"


def test_audit_text_falls_back_to_the_columns_own_serializer() -> None:
    """A serializer that writes differently (e.g. compact) is used as it is."""

    def compact(obj: object) -> str:
        return json.dumps(obj, separators=(",", ":"))

    text = _changes_text(compact, compact)
    assert text.__name__ == "slow"
    row = _rows(1)[0]
    assert text(row) == compact(_changes(row))


def test_audited_fields_are_the_event_fields() -> None:
    from pv.events.service import EVENT_FIELDS

    assert [f for f, _ in _AUDITED] == list(EVENT_FIELDS)


def test_nulls_bound_directly_leaves_the_registry_as_it_was() -> None:
    key = (type(None), sqlite3.PrepareProtocol)
    assert key not in sqlite3.adapters
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b, c)")
    with bulk._nulls_bound_directly():
        assert key in sqlite3.adapters
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(None, 1, "x"), ("y", None, None)])
    assert key not in sqlite3.adapters
    rows = conn.execute("SELECT a, typeof(a), b, typeof(b), c, typeof(c) FROM t").fetchall()
    assert rows == [(None, "null", 1, "integer", "x", "text"),
                    ("y", "text", None, "null", None, "null")]  # fmt: skip

    def mine(value: None) -> None:
        return None

    sqlite3.adapters[key] = mine  # someone else's adapter: used and left in place
    try:
        with bulk._nulls_bound_directly():
            assert sqlite3.adapters[key] is mine
        assert sqlite3.adapters[key] is mine
    finally:
        del sqlite3.adapters[key]


def _variants() -> list[EventInput]:
    base = EventInput(aeterm="rash", aelltcd="10001718", aetoxgr=2, aeser=False,
                      aestdtc="2021-03-05", aeout="RECOVERED/RESOLVED",
                      aerel={"belimumab": "RELATED"},
                      aeacn={"belimumab": "DOSE NOT CHANGED"})  # fmt: skip
    out = [base, EventInput()]
    for f in fields(EventInput):
        for value in (*TEXTS, None, 3, True, {}, {"k": ""}, {"k": "v"}):
            try:
                out.append(replace(base, **{f.name: value}))
            except TypeError:
                continue
    out.append(replace(base, aerel=None))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("data", _variants())
def test_is_clean_exactly_when_clean_input_changes_nothing(data: EventInput) -> None:
    try:
        cleaned = clean_input(data)
    except AttributeError:  # e.g. a text where the per-drug answers go: fails in both paths
        assert not is_clean(data)
        return
    same = all(
        getattr(cleaned, f.name) == getattr(data, f.name)
        and type(getattr(cleaned, f.name)) is type(getattr(data, f.name))
        for f in fields(EventInput)
    )
    assert is_clean(data) == same


def test_is_clean_refuses_other_types() -> None:
    class Mine(EventInput):
        pass

    class Text(str):
        pass

    assert is_clean(EventInput(aeterm="x"))
    assert not is_clean(Mine(aeterm="x"))
    assert not is_clean(EventInput(aeterm=Text("x")))
