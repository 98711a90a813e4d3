"""The review queue's SQL alone at 1,000,000 events (issue 17, point 3): no server, no page.

    .venv/bin/python bench/bench_queue_query.py [--db FILE] [--pg URL] [--rounds 3]
                                                [--repeat 100]
    (also: bench/bench_queue.py --query)

For each filter of bench_queue.py (the load's requests), in this process, on one session:

- page: `queue_page` as GET /review runs it for an officer (every site, the default order,
  most urgent first), its statements and the rows it builds (QueueRow), nothing rendered;
- second page: the same after its first page's cursor;
- counts: `status_counts`, the per-status GROUP BY over queue_tally (the page keeps it
  COUNTS_TTL = 5 s per filter and worker, so a page pays it at most once every 5 s);
- cold page: the first page with the worker's kept tier-1 keys dropped (what each worker
  pays once per filter and NEW_SERIOUS_REBUILD), once per round;
- floor: the page's own rows (the same ids) read by primary key, the same columns, in one
  Core statement without the decorations (open queries, due dates, assessment).

Rounds alternate the filters; each round runs each filter `--repeat` times. Figures are
min / median / max over every repetition of every round, in milliseconds of wall-clock
time (the process does nothing else). Target: the page's median <= 1 ms for every filter.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_queue import FILTERS
from bench_queue_data import EVENTS, STUDY, build, check_tally
from pg_copy import add_pg_option, bench_database


def _filters(values: dict[str, str]) -> Any:
    from pv.web.review import FILTERS as NAMES
    from pv.web.review import filters_from

    return filters_from({name: values.get(name, "") for name in NAMES})


def _floor_statement() -> Any:
    from sqlalchemy import bindparam, select

    from pv.events.models import AdverseEvent as AE
    from pv.review.queue import COLUMNS
    from pv.study.models import Subject

    return (
        select(*COLUMNS)
        .join(Subject, Subject.id == AE.subject_id)  # type: ignore[arg-type]
        .where(AE.id.in_(bindparam("ids", expanding=True)))  # type: ignore[union-attr]
    )


def _times(work: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        work()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _spread(values: list[float]) -> str:
    return f"{min(values):6.2f} / {statistics.median(values):6.2f} / {max(values):7.2f}"


def query_bench(url: str, rounds: int = 3, repeat: int = 100) -> bool:
    """Print the figures; True when every filter's page median is <= 1 ms."""
    from pv.db import make_engine, read_session
    from pv.review import queue

    engine = make_engine(url)
    floor_q = _floor_statement()
    names = [", ".join(f"{k}={v}" for k, v in f.items()) or "(none)" for f in FILTERS]
    times: dict[str, dict[str, list[float]]] = {
        n: {"page": [], "next": [], "counts": [], "cold": [], "floor": []} for n in names
    }
    with read_session(engine) as session:
        conn = session.connection()
        for _ in range(3):  # warm-up: the statements built, the kept keys read
            for f in FILTERS:
                queue.queue_page(session, study_id=STUDY, filters=_filters(f))
        for r in range(rounds):
            order = list(zip(names, FILTERS, strict=True))
            for name, f in order if r % 2 == 0 else order[::-1]:
                filters = _filters(f)
                queue._NEW_SERIOUS.clear()  # this worker's kept tier-1 keys
                t0 = time.perf_counter()
                page = queue.queue_page(session, study_id=STUDY, filters=filters)
                times[name]["cold"].append((time.perf_counter() - t0) * 1000)
                ids = [row.id for row in page.rows]
                t = times[name]

                def first(filters: Any = filters) -> object:
                    return queue.queue_page(session, study_id=STUDY, filters=filters)

                def second(filters: Any = filters, cursor: Any = page.next_cursor) -> object:
                    return queue.queue_page(session, study_id=STUDY, filters=filters, cursor=cursor)

                def counts(filters: Any = filters) -> object:
                    return queue.status_counts(session, study_id=STUDY, filters=filters)

                def floor(ids: list[int] = ids) -> object:
                    return conn.execute(floor_q, {"ids": ids}).all()

                t["page"] += _times(first, repeat)
                t["next"] += _times(second, repeat)
                t["counts"] += _times(counts, max(1, repeat // 10))
                t["floor"] += _times(floor, repeat)
    engine.dispose()
    print(
        f"queue SQL per filter at {EVENTS:,} events, ms, min / median / max over {rounds} rounds "
        f"x {repeat} repetitions (cold and counts: fewer)"
    )
    print(
        f"  {'filter':32} {'page':>24} {'second page':>24} {'floor (same rows by id)':>24} "
        f"{'counts (5 s cache)':>24} {'cold page':>24}"
    )
    ok = True
    for name in names:
        t = times[name]
        ok &= statistics.median(t["page"]) <= 1.0
        print(
            f"  {name:32} {_spread(t['page']):>24} {_spread(t['next']):>24} "
            f"{_spread(t['floor']):>24} {_spread(t['counts']):>24} {_spread(t['cold']):>24}"
        )
    medians = [statistics.median(times[n]["page"]) for n in names]
    print(
        f"  page medians over the filters: {_spread(medians)}; floor medians "
        f"{_spread([statistics.median(times[n]['floor']) for n in names])}"
    )
    print(f"  target page median <= 1 ms for every filter: {'met' if ok else 'NOT met'}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, help="keep the bench database here (reused if present)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=100, help="repetitions per filter and round")
    add_pg_option(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "queue.sqlite"
        url = bench_database(db, args.pg, study=STUDY, events=EVENTS, build=build)
        check_tally(url)
        query_bench(url, args.rounds, args.repeat)


if __name__ == "__main__":
    main()
