"""Log-in answer times by kind of account: the time of a refused log-in must not tell
whether the account exists, is disabled, locked or has no password (issue 13, point 2).

Times `pv.auth.service.login` as the log-in route calls it (one write transaction per
attempt, on a fresh SQLite file, or on a fresh database made on the PostgreSQL server of
PV_BENCH_DATABASE_URL when set, and dropped after) for six cases,
ATTEMPTS each, interleaved round-robin so that drift of the machine spreads over all cases
alike. Every attempt comes from its own client address and the account's failures are
cleared between attempts (outside the timing), so the throttle never answers first: what is
measured is the path that checks a password. Prints the median, 10th and 90th percentile
of the wall time (ms) of each case, the median CPU time of this process (steadier on a busy
machine: argon2 is CPU work), and the largest difference between the medians of the
refused cases.
Before issue 13 an account without a password answered in about 2 ms and one with a
password in about 23 ms.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import select

from pv.audit.service import Actor
from pv.auth import throttle
from pv.auth.models import LoginFailure, User
from pv.auth.service import LoginResult, create_user, disable_user, login
from pv.db import make_engine, write_session
from pv.migrate import upgrade
from pv.timeutil import utcnow

ATTEMPTS = int(os.environ.get("PV_BENCH_ATTEMPTS", "50"))
PASSWORD = "amber kestrel lighthouse"
CASES = {
    "unknown user": ("nobody-here", PASSWORD),
    "disabled account": ("disabled", PASSWORD),
    "locked account": ("locked", PASSWORD),
    "account without password": ("nopass", PASSWORD),
    "wrong password": ("active", "not the right one"),
    "right password": ("active", PASSWORD),
}


def _seed(engine) -> None:  # type: ignore[no-untyped-def]
    actor = Actor.system("bench")
    with write_session(engine) as s:
        for name in ("active", "disabled", "locked"):
            create_user(session=s, actor=actor, username=name, role="officer", password=PASSWORD)
        create_user(session=s, actor=actor, username="nopass", role="officer")
        disabled = s.exec(select(User).where(User.username == "disabled")).one()
        disable_user(session=s, actor=actor, user=disabled)
        locked = s.exec(select(User).where(User.username == "locked")).one()
        locked.locked_at = utcnow()
        s.add(locked)


def _reset(engine) -> None:  # type: ignore[no-untyped-def]
    with write_session(engine) as s:
        for row in s.exec(select(LoginFailure)):
            s.delete(row)


def run(url: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    engine = make_engine(url)
    upgrade(engine)
    _seed(engine)
    times: dict[str, list[float]] = {case: [] for case in CASES}
    cpu: dict[str, list[float]] = {case: [] for case in CASES}
    for name, password in CASES.values():  # warm-up, not timed
        with write_session(engine) as s:
            login(session=s, username=name, password=password, address="192.0.2.1")
        _reset(engine)
    for i in range(ATTEMPTS):
        for case, (name, password) in CASES.items():
            address = f"10.{i // 250}.{i % 250}.{len(times[case]) % 250}"
            t0, c0 = time.perf_counter(), time.process_time()
            with write_session(engine) as s:
                result = login(session=s, username=name, password=password, address=address)
            times[case].append((time.perf_counter() - t0) * 1000)
            cpu[case].append((time.process_time() - c0) * 1000)
            assert isinstance(result, LoginResult) == (case == "right password"), case
            _reset(engine)  # keep the throttle out of the measurement
    engine.dispose()
    return times, cpu


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


@contextmanager
def _database() -> Iterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL database made (and dropped) through the
    server that PV_BENCH_DATABASE_URL names."""
    server = os.environ.get("PV_BENCH_DATABASE_URL", "")
    if not server:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        return
    name = f"pvbench_login_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main() -> None:
    with _database() as url:
        times, cpu = run(url)
    backend = url.split(":", 1)[0]
    print(f"log-in answer times, {ATTEMPTS} attempts per case ({backend}); "
          f"throttle: {throttle.FREE_FAILURES} free failures")  # fmt: skip
    print(f"{'case':<28} {'median ms':>10} {'p10':>8} {'p90':>8} {'median CPU ms':>14}")
    medians, cpu_medians = {}, {}
    for case, values in times.items():
        medians[case] = statistics.median(values)
        cpu_medians[case] = statistics.median(cpu[case])
        print(f"{case:<28} {medians[case]:>10.1f} {_pct(values, 0.1):>8.1f} "
              f"{_pct(values, 0.9):>8.1f} {cpu_medians[case]:>14.1f}")  # fmt: skip
    for label, table in (("wall", medians), ("CPU", cpu_medians)):
        refused = [m for case, m in table.items() if case != "right password"]
        print(f"largest difference between the {label} medians of refused cases: "
              f"{max(refused) - min(refused):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
