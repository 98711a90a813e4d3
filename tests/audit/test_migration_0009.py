"""Migration 0009 on a trail written before it (no digests, ids and times given, as the
earlier schema allowed): the chain is computed for every entry in id order, verify finds it
intact, and the new triggers hold; down to 0008 and up again gives the same digests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import MetaData, insert, text
from sqlalchemy.exc import DBAPIError

from pv.audit.verify import verify
from pv.db import make_engine
from pv.migrate import alembic_config
from tests.audit.conftest import independent_digests
from tests.ops.conftest import empty_db_url  # noqa: F401  (fixture)

T0 = datetime(2021, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)


def _migrate(engine, direction: str, revision: str) -> None:
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)
        conn.commit()


def _digests(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, prev_digest, digest FROM audit_log ORDER BY id"))]  # fmt: skip


def test_0009_chains_an_existing_trail(empty_db_url) -> None:  # noqa: F811
    engine = make_engine(empty_db_url())
    try:
        _migrate(engine, "upgrade", "0008")
        meta = MetaData()
        meta.reflect(engine, only=["audit_log"])
        rows = [dict(id=i, at=T0 + timedelta(minutes=i), actor_id=None, actor="inv",
                     action="update", entity_type="adverse_event", entity_id=str(i % 7),
                     study_id="NCT00000001", site_id=1 + i % 2,
                     changes={"aeterm": [f"t{i}", f"pneumonie \u80ba\u708e {i}"], "n": [i, None]},
                     reason=None if i % 3 else "correction")
                for i in range(1, 7001)]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(meta.tables["audit_log"]), rows)
        assert {d for _i, *pair in _digests(engine) for d in pair} == {None}

        _migrate(engine, "upgrade", "head")
        chained = _digests(engine)
        assert len(chained) == 7000
        assert chained == independent_digests(engine)
        result = verify(engine)
        assert result.intact and result.count == 7000 and result.head_id == 7000
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 5"))

        _migrate(engine, "downgrade", "0008")
        assert {d for _i, *pair in _digests(engine) for d in pair} == {None}
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log WHERE id = 5"))
        _migrate(engine, "upgrade", "head")
        assert _digests(engine) == chained
        assert verify(engine).intact
    finally:
        engine.dispose()
