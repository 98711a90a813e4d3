"""Term search latency: p50/p95/max over realistic typeahead queries on the CTCAE release.

Runs against a fresh SQLite file with CTCAE 5.0 loaded and times `search_terms` exactly
as the typeahead route calls it (a read session per query), after one warm-up query
(the first query of a process builds the in-memory index: its time is reported apart).
Target (issue 2): p95 <= 20 ms.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from pv.db import make_engine, read_session
from pv.migrate import upgrade
from pv.terminology.ctcae import load_ctcae
from pv.terminology.search import search_terms

QUERIES = [
    "in",
    "inf",
    "infus",
    "infusion rel",
    "anaph",
    "10002218",
    "pain",
    "rash",
    "hyperg",
    "cushing",
    "lung inf",
    "sepsis",
    "ectio",
    "a",
    "fever",
    "zoster",
    "hypert",
    "weight",
    "osteo",
    "insomnia",
    "urinary tract",
    "allergic",
    "neutro",
    "1005",
    "herpes",
]
ROUNDS = 40


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        upgrade(engine)
        load_ctcae(engine)
        t0 = time.perf_counter()
        with read_session(engine) as s:
            search_terms(s, "warm")
        cold = (time.perf_counter() - t0) * 1000
        times = []
        for _ in range(ROUNDS):
            for q in QUERIES:
                t = time.perf_counter()
                with read_session(engine) as s:
                    search_terms(s, q, limit=15)
                times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"term search over CTCAE 5.0 (837 terms), {len(times)} queries")
        print(f"  first query (builds the index): {cold:.2f} ms")
        print(
            f"  p50 {statistics.median(times):.2f} ms   p95 {p95:.2f} ms   max {times[-1]:.2f} ms"
        )
        print(f"  target p95 <= 20 ms: {'met' if p95 <= 20 else 'NOT met'}")
        engine.dispose()


if __name__ == "__main__":
    main()
