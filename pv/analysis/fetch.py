"""Fetching query results as compact columns, fast: the analysis loader's one read path.

A select runs through the raw DBAPI cursor (no ORM objects, no SQLAlchemy Row objects)
and comes back as a DataFrame whose text columns are categoricals. Nothing here writes.
"""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

CHUNK = 100_000
TEXT = (
    "aebodsys", "aedecod", "aesev", "aeout", "aesi", "aestdtc", "aeendtc", "worsened_dtc",
    "site", "sex", "race", "disposition", "drug", "unit", "route", "aegrpid", "aespid",
)  # fmt: skip
FLAGS = ("aeser", "aesdth", "related", "drug_withdrawn", "preexisting")
NUMBERS = (
    "id", "subject_id", "arm_id", "aetoxgr", "initial_grade", "age", "weight_kg", "height_cm",
    "died", "dose_mg", *FLAGS,
)  # fmt: skip


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
            known = self.categories
            ids = [known.setdefault(u, len(known)) for u in uniques]
            self.parts.append(np.array([*ids, -1], dtype=np.int32)[codes])
            return
        self.parts.append(array.astype(float) if self.numeric else array)

    def result(self) -> pd.Series:
        if self.text:
            codes = np.concatenate(self.parts) if self.parts else np.zeros(0, np.int32)
            labels = list(self.categories)  # in order of appearance: sort them, as pandas does
            rank = np.argsort(np.array(labels, dtype=object)).argsort()
            recode = np.append(rank, -1).astype(np.int32)
            categories = sorted(labels)
            return pd.Series(pd.Categorical.from_codes(recode[codes], categories=categories))
        if not self.parts:
            return pd.Series(dtype=object)
        return pd.Series(np.concatenate(self.parts))
