"""The demo built once per seed for the read-only checks of a module (SEEDS)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine, make_url

from pv.db import make_engine
from pv.demo.generate import DemoSummary, build_demo
from tests.conftest import PG_URL, _pg_admin, _pg_drop

SEEDS = (1, 7, 42, 1234)


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def seeded(
    request: pytest.FixtureRequest, _template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Engine, DemoSummary]]:
    """(seed, engine, summary) of a demo built with that seed; read it, do not write."""
    seed: int = request.param
    if PG_URL:
        name = f"pvt_demo{seed}_{uuid.uuid4().hex[:8]}"
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"')
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    else:
        path = tmp_path_factory.mktemp(f"demo{seed}") / "demo.sqlite"
        shutil.copyfile(_template, path)
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        yield seed, engine, build_demo(engine, seed=seed)
    finally:
        engine.dispose()
        if PG_URL:
            _pg_drop(name)
