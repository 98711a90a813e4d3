"""Reading analysis data as compact columns, fast: the analysis loader's one read path.

A load is one read-only transaction (`open_source`). Through Arrow (ADBC: the
`adbc-driver-sqlite` and `adbc-driver-postgresql` drivers) each select streams back as
record batches that become typed columns at once: text as integer codes joined to one
table of the distinct values (a pandas Categorical), ids, grades and flags as floats
(NaN for NULL), with no Python object per row. A batch is converted as it arrives and
then dropped, so a load holds the compact columns, never the whole result as rows
(PostgreSQL sends it as a binary COPY stream).

Databases the drivers cannot open on their own (an in-memory SQLite database, which
lives inside the engine's one connection) are read through the engine's DB-API cursor
instead, into the same columns (`_CursorSource`). Nothing here writes.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

CHUNK = 100_000
TEXT = (
    "aebodsys", "aedecod", "aesev", "aeout", "aesi", "aestdtc", "aeendtc", "worsened_dtc",
    "site", "sex", "race", "disposition", "drug", "unit", "route", "aegrpid", "aespid",
    "aelltcd", "frequency",
)  # fmt: skip
FLAGS = ("aeser", "aesdth", "related", "drug_withdrawn", "preexisting")
NUMBERS = (
    "id", "subject_id", "arm_id", "aetoxgr", "initial_grade", "age", "weight_kg", "height_cm",
    "died", "dose_mg", *FLAGS,
)  # fmt: skip
# SQLite through ADBC: the driver types each column by the values of the first batch, and
# a column all NULL there is taken as integer (a text value later is an error). Every
# read therefore starts with one row of typed markers, dropped on arrival.
_MARK_NUMBER = -1.5e308
_MARK_TEXT = "\x01pv"


class Source(Protocol):
    """One read-only transaction on the study's database."""

    def fetch(self, stmt: sa.Select, names: tuple[str, ...]) -> pd.DataFrame:
        """The select's rows as columns named `names` (see the module docstring)."""
        ...

    def rows(self, stmt: sa.Select) -> list[tuple[Any, ...]]:
        """A small select's rows as tuples."""
        ...


@contextlib.contextmanager
def open_source(engine: Engine) -> Iterator[Source]:
    """A read-only transaction for one load: through ADBC where the database allows, else
    through the engine's connection. PostgreSQL reads at REPEATABLE READ, so every select
    of the load sees the same snapshot; SQLite's read transaction does so by itself."""
    adbc = _adbc_connect(engine.url)
    if adbc is None:
        opts = {} if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
        with engine.connect().execution_options(**opts) as conn, conn.begin():
            yield _CursorSource(conn)
        return
    try:
        source = _ArrowSource(adbc, engine.dialect.name)
        yield source
    finally:
        with contextlib.suppress(Exception):
            adbc.rollback()
        adbc.close()


def _adbc_connect(url: URL) -> Any:
    """An ADBC DB-API connection (a transaction open) for the URL, None when the URL is a
    database only the engine can reach (in-memory SQLite) or the backend has no driver."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:") or str(url.database).startswith("file:"):
            return None
        import adbc_driver_sqlite.dbapi as driver

        # Read-only (the loader never writes; a missing file is an error, not a new empty
        # database). The driver takes a URI: the path is percent-encoded ("#", "%", " ").
        path = Path(str(url.database)).resolve()
        return driver.connect(f"file:{quote(str(path))}?mode=ro", autocommit=False)
    if backend == "postgresql":
        import adbc_driver_postgresql.dbapi as driver

        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = driver.connect(libpq, autocommit=False)
        with conn.cursor() as cur:  # first in the transaction the driver opened
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # The selects are sent with their values written in (see _ArrowSource._sql):
            # quotes doubled, backslashes as they are, which this setting makes exact.
            cur.execute("SET LOCAL standard_conforming_strings = on")
        return conn
    return None


class _ArrowSource:
    def __init__(self, conn: Any, dialect_name: str) -> None:
        self.conn = conn
        self.sqlite = dialect_name == "sqlite"
        if self.sqlite:
            from sqlalchemy.dialects import sqlite

            self.dialect: sa.Dialect = sqlite.dialect()
        else:
            from sqlalchemy.dialects import postgresql

            self.dialect = postgresql.psycopg.dialect(paramstyle="numeric_dollar")

    def _sql(self, stmt: sa.Select | sa.CompoundSelect) -> tuple[str, tuple[Any, ...]]:
        """The SQL and its parameters. PostgreSQL's driver streams a result (COPY, batches
        of about 16 MB) only for a statement without parameters: with one, it returns the
        whole result as one batch (10^7 events at once). So on PostgreSQL the values, a
        study id and constants, are written into the statement as literals, by SQLAlchemy's
        literal rendering (strings quoted, quotes doubled; tests/analysis/test_fetch.py
        loads a study whose id holds quotes and backslashes)."""
        if not self.sqlite:
            params = stmt.compile(dialect=self.dialect).params
            bad = [v for v in params.values() if not isinstance(v, str | int | float)]
            if bad:  # never reached by the loader's selects: strings and numbers only
                raise TypeError(f"no literal form for {bad!r}")
            literal = stmt.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True})
            return str(literal), ()
        compiled = stmt.compile(dialect=self.dialect)
        params = compiled.params
        return str(compiled), tuple(params[k] for k in compiled.positiontup or ())

    def rows(self, stmt: sa.Select) -> list[tuple[Any, ...]]:
        sql, args = self._sql(stmt)
        with self.conn.cursor() as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall())

    def fetch(self, stmt: sa.Select, names: tuple[str, ...]) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.compute as pc

        stmt, read, flags = _packed(stmt, names)
        marked = self.sqlite
        sql, args = self._sql(_marked(stmt, read) if marked else stmt)
        columns = [_Column(name) for name in read]
        with self.conn.cursor() as cur:
            if self.sqlite:  # batches of 64 Ki rows: fewer conversions than the default 1 Ki
                cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "65536"})
            cur.execute(sql, args or None)
            for batch in _read_ahead(cur.fetch_record_batch()):
                if marked:
                    _check_marker(batch)
                    batch, marked = batch.slice(1), False
                for i, column in enumerate(columns):
                    column.add_arrow(batch.column(i), pa, pc)
                del batch
        got = {}
        for column in columns:
            got[column.name] = column.result()
        del columns
        if flags:
            got.update(_unpack(got.pop(_PACKED).to_numpy(), flags))
        return pd.DataFrame({name: got[name] for name in names})


_PACKED = "\x00flags"
_AHEAD = 2  # batches read ahead of the conversion: memory stays a few batches


def _read_ahead(reader: Any) -> Iterator[Any]:
    """The reader's batches, read by a second thread while this one converts the last:
    the driver's read runs without the interpreter lock, so on a machine with two cores
    the read and the conversion overlap. At most _AHEAD batches wait (the load streams);
    an error in the read is raised here, and stopping early stops the reader."""
    import queue
    import threading

    box: queue.Queue[Any] = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the consumer has stopped

    def produce() -> None:
        try:
            for batch in reader:
                if not put(batch):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    worker = threading.Thread(target=produce, name="pv-fetch", daemon=True)
    worker.start()
    try:
        while (item := box.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _packed(
    stmt: sa.Select, names: tuple[str, ...]
) -> tuple[sa.Select, tuple[str, ...], list[str]]:
    """The select with its yes/no columns (FLAGS) read as one integer, two bits each (the
    value, and whether it is NULL): a driver's cost is per cell, and a table set reads
    five flags per event. Returns the select, the names it reads and the packed flags."""
    flags = [n for n in names if n in FLAGS]
    if len(flags) < 2:
        return stmt, names, []
    columns = dict(zip(names, stmt.selected_columns, strict=True))
    code: Any = sa.literal(0)
    for k, name in enumerate(flags):
        value = columns[name]
        code = code + sa.func.coalesce(sa.cast(value, sa.Integer), 0) * (4**k)
        code = code + sa.case((value.is_(None), 2 * 4**k), else_=0)
    kept = [n for n in names if n not in FLAGS]
    select = stmt.with_only_columns(
        *(columns[n] for n in kept), code.label("pv_flags"), maintain_column_froms=True
    )
    return select, (*kept, _PACKED), flags


def _unpack(code: np.ndarray, flags: list[str]) -> dict[str, pd.Series]:
    """The packed flags as floats: 1.0 yes, 0.0 no, NaN for NULL (as NUMBERS are read)."""
    whole = code.astype(np.int64)
    out = {}
    for k, name in enumerate(flags):
        value = ((whole >> (2 * k)) & 1).astype(float)
        value[((whole >> (2 * k + 1)) & 1).astype(bool)] = np.nan
        out[name] = pd.Series(value)
    return out


def _marked(stmt: sa.Select, names: tuple[str, ...]) -> sa.CompoundSelect:
    """The select behind a first row of typed markers, every column cast to its kind (SQLite
    keeps any value in any column; the analysis reads numbers as REAL, the rest as TEXT)."""
    marks, casts = [], []
    for i, (name, column) in enumerate(zip(names, stmt.selected_columns, strict=True)):
        number = name in NUMBERS or name == _PACKED
        marks.append(sa.literal(_MARK_NUMBER if number else _MARK_TEXT).label(f"c{i}"))
        casts.append(sa.cast(column, sa.Float if number else sa.Text).label(f"c{i}"))
    cast = stmt.with_only_columns(*casts, maintain_column_froms=True).subquery()
    return sa.union_all(sa.select(*marks), sa.select(*cast.c))


def _check_marker(batch: Any) -> None:
    first = batch.slice(0, 1).to_pylist()
    if not first or any(v not in (_MARK_NUMBER, _MARK_TEXT) for v in first[0].values()):
        raise RuntimeError("the analysis read lost its first-row type markers")


class _CursorSource:
    """Through the engine's DB-API cursor: the fallback when ADBC cannot open the database."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def rows(self, stmt: sa.Select) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.execute(stmt).all()]

    def fetch(self, stmt: sa.Select, names: tuple[str, ...]) -> pd.DataFrame:
        return fetch(self.conn, stmt, names)


def fetch(conn: Connection, stmt: sa.Select, names: tuple[str, ...]) -> pd.DataFrame:
    """Run a Core select through the raw DBAPI cursor into columns.

    Each chunk of rows becomes one 2-D object array, sliced into columns: text columns
    (TEXT) become categoricals built from per-chunk codes, NUMBERS (ids, grades, flags)
    become float arrays (None -> NaN), anything else (identifiers, date-times as returned
    by the driver) stays an object array. The cyclic garbage
    collector is paused while the row tuples stream through: they hold no cycles, and
    collecting over a million short-lived tuples otherwise costs a third of the load.
    """
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.params
    args: object = (
        tuple(params[k] for k in compiled.positiontup or ())
        if conn.dialect.paramstyle in ("qmark", "format", "numeric")
        else params
    )
    columns = [_Column(name) for name in names]
    raw = conn.connection.driver_connection
    # PostgreSQL: a server-side cursor, the rows come CHUNK at a time (a client-side one
    # would hold the whole result in the driver first: hundreds of MiB at 10^6 events).
    server = conn.dialect.name == "postgresql"
    cursor = raw.cursor(name="pv_fetch") if server else raw.cursor()  # type: ignore[union-attr]
    paused = gc.isenabled()
    gc.disable()
    try:
        cursor.execute(str(compiled), args)
        while rows := cursor.fetchmany(CHUNK):
            block = np.empty((len(rows), len(columns)), dtype=object)
            block[:] = rows
            del rows
            for i, column in enumerate(columns):
                column.add(np.ascontiguousarray(block[:, i]))
    finally:
        cursor.close()
        if paused:
            gc.enable()
    return pd.DataFrame({c.name: c.result() for c in columns})


class _Column:
    """One fetched column, accumulated chunk by chunk."""

    def __init__(self, name: str) -> None:
        self.name, self.text, self.numeric = name, name in TEXT, name in NUMBERS
        self.parts: list[np.ndarray] = []
        self.categories: dict[str, int] = {}

    def add(self, array: np.ndarray) -> None:
        if self.text:
            codes, uniques = pd.factorize(array)
            self._add_codes(codes, uniques)
            return
        self.parts.append(array.astype(float) if self.numeric else array)

    def add_arrow(self, array: Any, pa: Any, pc: Any) -> None:
        """One record batch's column: text through its dictionary, numbers as floats."""
        if self.text:
            encoded = pc.dictionary_encode(array, null_encoding="mask")
            codes = pc.fill_null(encoded.indices, -1).to_numpy()
            self._add_codes(codes, encoded.dictionary.to_pylist())
            return
        if self.numeric:
            self.parts.append(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False))
            return
        self.parts.append(np.array(array.to_pylist(), dtype=object))

    def _add_codes(self, codes: np.ndarray, uniques: Any) -> None:
        known = self.categories
        ids = [known.setdefault(u, len(known)) for u in uniques]
        self.parts.append(np.array([*ids, -1], dtype=np.int32)[codes])

    def result(self) -> pd.Series:
        """The whole column; the chunks are released as it is made (a load's peak memory is
        the columns of one table plus one column's chunks, not twice the table)."""
        parts, self.parts = self.parts, []
        if self.text:
            codes = np.concatenate(parts) if parts else np.zeros(0, np.int32)
            del parts
            labels = list(self.categories)  # in order of appearance: sort them, as pandas does
            rank = np.argsort(np.array(labels, dtype=object)).argsort()
            # the smallest integer type that holds the codes (as pandas would choose)
            small = np.int8 if len(labels) < 127 else np.int16 if len(labels) < 32767 else np.int32
            recode = np.append(rank, -1).astype(small)
            categories = sorted(labels)
            return pd.Series(pd.Categorical.from_codes(recode[codes], categories=categories))
        if not parts:
            return pd.Series(dtype=object)
        return pd.Series(np.concatenate(parts))
