"""The analysis loader's read path (pv/analysis/fetch.py): through Arrow (ADBC) where the
database allows, through the engine's cursor otherwise, into the same columns."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pv.analysis import api, fetch
from pv.analysis.data import load_study
from pv.db import make_engine

from .conftest import PG_URL

EVERY_COLUMN = frozenset().union(*(t.COLUMNS for t in api.TABLES.values()))


def _cursor_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "_adbc_connect", lambda url: None)


def _assert_same_load(engine: Engine, study: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with fetch.open_source(engine) as source:
        assert isinstance(source, fetch._ArrowSource)  # the Arrow path is the one tested
    arrow = load_study(engine, study, columns=EVERY_COLUMN)
    with monkeypatch.context() as m:
        _cursor_only(m)
        with fetch.open_source(engine) as source:
            assert isinstance(source, fetch._CursorSource)
        cursor = load_study(engine, study, columns=EVERY_COLUMN)
    assert len(arrow.events) > 0
    for name in ("arms", "subjects", "events", "exposure"):
        pd.testing.assert_frame_equal(getattr(arrow, name), getattr(cursor, name), obj=name)
    assert arrow.data_end == cursor.data_end


def test_arrow_and_cursor_loads_are_equal_on_the_pilot(pilot_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _assert_same_load(pilot_engine, "CDISCPILOT01", monkeypatch)


def test_arrow_and_cursor_loads_are_equal_on_the_fixture(fixture_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _assert_same_load(fixture_engine, "FIX", monkeypatch)


def _probe_table(engine: Engine, rows: list[dict[str, object]]) -> sa.Table:
    meta = sa.MetaData()
    table = sa.Table(
        "pv_fetch_probe",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("aeendtc", sa.String(20)),
        sa.Column("aetoxgr", sa.Integer),
        sa.Column("aeser", sa.Boolean),
        sa.Column("aesdth", sa.Boolean),
        sa.Column("related", sa.Boolean),
        sa.Column("usubjid", sa.String(40)),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    return table


NAMES = ("id", "aeendtc", "aetoxgr", "aeser", "aesdth", "related", "usubjid")


def test_a_column_empty_for_a_whole_batch_then_filled(engine: Engine) -> None:
    """SQLite's ADBC driver types a column by the values of its first batch (64 Ki rows
    here): text or numbers arriving after a batch of NULLs must still be read."""
    n = 70_000
    rows = [
        {"id": i, "aeendtc": None, "aetoxgr": None, "aeser": None, "aesdth": False,
         "related": None, "usubjid": None}
        for i in range(1, n + 1)
    ]  # fmt: skip
    rows[-1].update(aeendtc="2024-02", aetoxgr=3, aeser=True, related=False, usubjid="S-1")
    rows[-2].update(aeendtc="2024-02-01", aetoxgr=1, aeser=False, related=True)
    table = _probe_table(engine, rows)
    with fetch.open_source(engine) as source:
        frame = source.fetch(sa.select(*(table.c[n] for n in NAMES)).order_by(table.c.id), NAMES)
    assert len(frame) == n
    assert frame["id"].tolist() == [float(i) for i in range(1, n + 1)]
    assert frame["aeendtc"].isna().sum() == n - 2
    assert frame["aeendtc"].iloc[-2:].tolist() == ["2024-02-01", "2024-02"]
    assert list(frame["aeendtc"].cat.categories) == ["2024-02", "2024-02-01"]
    assert np.isnan(frame["aetoxgr"].iloc[: n - 2]).all()
    assert frame["aetoxgr"].iloc[-2:].tolist() == [1.0, 3.0]
    assert frame["usubjid"].iloc[-1] == "S-1" and pd.isna(frame["usubjid"].iloc[0])


def test_packed_flags_keep_yes_no_and_null(engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The flags travel as one integer (two bits each): every combination of yes, no and
    NULL comes back as the cursor reads it (1.0, 0.0, NaN)."""
    values = [True, False, None]
    rows = [
        {"id": i, "aeendtc": None, "aetoxgr": i % 6, "aeser": a, "aesdth": b, "related": c,
         "usubjid": f"S-{i}"}
        for i, (a, b, c) in enumerate(
            ((a, b, c) for a in values for b in values for c in values), start=1)
    ]  # fmt: skip
    table = _probe_table(engine, rows)
    stmt = sa.select(*(table.c[n] for n in NAMES)).order_by(table.c.id)
    with fetch.open_source(engine) as source:
        assert isinstance(source, fetch._ArrowSource)
        arrow = source.fetch(stmt, NAMES)
    with monkeypatch.context() as m:
        _cursor_only(m)
        with fetch.open_source(engine) as source:
            cursor = source.fetch(stmt, NAMES)
    pd.testing.assert_frame_equal(arrow, cursor)

    def expect(v: bool | None) -> float:
        return float("nan") if v is None else float(v)

    for name in ("aeser", "aesdth", "related"):
        np.testing.assert_array_equal(arrow[name].to_numpy(), [expect(r[name]) for r in rows])


def test_an_in_memory_database_is_read_through_the_engine() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER, aedecod TEXT)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 'HEADACHE'), (2, NULL)"))
    t = sa.table("t", sa.column("id"), sa.column("aedecod"))
    with fetch.open_source(engine) as source:
        assert isinstance(source, fetch._CursorSource)
        frame = source.fetch(sa.select(t.c.id, t.c.aedecod).order_by(t.c.id), ("id", "aedecod"))
    assert frame["id"].tolist() == [1.0, 2.0]
    assert frame["aedecod"].tolist()[0] == "HEADACHE" and pd.isna(frame["aedecod"].iloc[1])


@pytest.mark.skipif(bool(PG_URL), reason="a SQLite file path")
def test_a_file_path_with_uri_characters(fixture_engine: Engine, tmp_path: Path) -> None:
    """The driver opens the file by URI (read-only): "#" and spaces in the path are
    the file's name, not URI syntax. ('?' cannot be in a SQLAlchemy URL's path at all.)"""
    src = Path(str(fixture_engine.url.database))
    odd = tmp_path / "a b#c"
    odd.mkdir()
    target = odd / "study.sqlite"
    fixture_engine.dispose()
    shutil.copyfile(src, target)
    engine = make_engine(f"sqlite:///{target}")
    with fetch.open_source(engine) as source:
        assert isinstance(source, fetch._ArrowSource)
    data = load_study(engine, "FIX", columns=EVERY_COLUMN)
    assert len(data.events) == 11  # the fixture's non-draft events


def test_the_arrow_read_cannot_write(fixture_engine: Engine) -> None:
    with fetch.open_source(fixture_engine) as source:
        assert isinstance(source, fetch._ArrowSource)
        with pytest.raises(Exception, match="(?i)read.?only"), source.conn.cursor() as cur:
            cur.execute("DELETE FROM adverseevent")
    with fixture_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM adverseevent")).scalar() == 12


def test_read_ahead_keeps_order_and_raises_the_readers_error() -> None:
    assert list(fetch._read_ahead(iter(range(50)))) == list(range(50))

    def failing():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in fetch._read_ahead(failing()):
            got.append(item)
    assert got == [1, 2]


def test_read_ahead_stops_its_reader_when_the_consumer_stops() -> None:
    """A consumer that stops early (an error in the conversion) leaves no thread blocked on
    a full queue: the reader is not read further than the batches waiting."""
    pulled = []

    def reader():  # type: ignore[no-untyped-def]
        for i in range(1000):
            pulled.append(i)
            yield i

    items = fetch._read_ahead(reader())
    assert next(items) == 0
    items.close()  # joins the reading thread
    assert len(pulled) <= 2 + fetch._AHEAD


def test_a_study_id_with_quotes_and_backslashes(engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL's selects carry their values written in (the driver streams only a
    statement without parameters): a quote or backslash in the study id must select that
    study and nothing else, as the cursor path's bound parameter does."""
    from .conftest import build_fixture_study

    odd = "F'X\\1' OR '1'='1"
    build_fixture_study(engine, odd)
    build_fixture_study(engine, "FIX")
    _assert_same_load(engine, odd, monkeypatch)
    data = load_study(engine, odd, columns=EVERY_COLUMN)
    assert len(data.events) == 11 and len(data.subjects) == len(load_study(engine, "FIX").subjects)


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's statement form")
def test_postgresql_selects_carry_no_parameters(fixture_engine: Engine) -> None:
    with fetch.open_source(fixture_engine) as source:
        assert isinstance(source, fetch._ArrowSource)
        t = sa.table("study", sa.column("id"), sa.column("title"))
        sql, args = source._sql(sa.select(t.c.title).where(t.c.id == "FIX"))
    assert args == () and "'FIX'" in sql
