"""Safety tables at scale: 10,000 subjects and 1,000,000 adverse events (issue 4).

    .venv/bin/python bench/bench_tables.py [--db FILE] [--rounds 3] [--pg URL]

Set-up (not timed): a SQLite file migrated to the current schema is filled with bulk
`sqlite3` inserts: 3 arms (placebo comparator first), 50 sites, 10,000 subjects (1% never
dosed), one daily-dose exposure record each, and 1,000,000 adverse events over 26 system
organ classes and 400 preferred terms with skewed frequencies; 5% start before the first
dose (1 in 100 of those is pre-existing, half of which worsen on treatment), 3% of the
later ones have a month-only onset date, 1% are drafts. With `--db` the file is kept
and reused when it already exists.

Timed, each run in a fresh child process after the imports are warm (the two jobs
alternate, `--rounds` times each, and the best run of each is compared):

- tables: `build_tables(engine, study, [AET01, AET02, AET04, AET05, AET01_AESI])`, end to
  end from the database (data load, TEAE derivation, counts, statistics);
- floor: a raw DB-API fetch (`sqlite3`, or `psycopg` with `--pg`) of the same event
  columns plus subjects and exposure,
  then a polars group-by giving AET02's counts (subjects and events per arm for every
  term, SOC and overall row, with the same treatment-emergence rule). The benchmark
  asserts these counts equal AET02's.

Reported: best-of-N wall time of each, their ratio (target <= 1.5x) and the largest peak
resident memory of each job's children (ru_maxrss: includes the interpreter and the
libraries; target < 1 GiB).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
from pg_copy import add_pg_option, bench_database

STUDY = "BENCH01"
SUBJECTS = 10_000
EVENTS = 1_000_000
TABLE_SET = ["AET01", "AET02", "AET04", "AET05", "AET01_AESI"]
ARMS = [("Placebo", "PBO", True), ("Drug 10 mg", "D10", False), ("Drug 20 mg", "D20", False)]
# The columns the table set reads (data.BASE_COLUMNS + each table's COLUMNS); checked below.
EVENT_COLUMNS = ["subject_id", "aestdtc", "preexisting", "worsened_dtc", "aebodsys", "aedecod",
                 "aeser", "aetoxgr", "aesev", "related", "drug_withdrawn", "aesdth", "aeout",
                 "aesi", "aeendtc", "initial_grade", "aegrpid", "aespid"]  # fmt: skip
EPOCH = date(1970, 1, 1)
FLAGS = {"preexisting", "aeser", "related", "drug_withdrawn", "aesdth"}


def day_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D")


def build(path: Path) -> None:
    from pv.db import make_engine
    from pv.migrate import upgrade

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    rng = np.random.default_rng(4)
    now = datetime(2024, 1, 1).isoformat(" ")
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    with con:
        con.execute(
            "INSERT INTO study (id, title, source, updated_at) VALUES (?, ?, 'sdtm', ?)",
            (STUDY, "Benchmark study", now),
        )
        for pos, (label, code, control) in enumerate(ARMS, start=1):
            con.execute(
                "INSERT INTO arm (id, study_id, label, code, is_control, position) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (pos, STUDY, label, code, control, pos),
            )
        con.executemany(
            "INSERT INTO site (id, study_id, code, name) VALUES (?, ?, ?, ?)",
            [(i, STUDY, f"{i:03d}", f"Site {i}") for i in range(1, 51)],
        )
        con.execute(
            "INSERT INTO drug (id, study_id, name, key) VALUES (1, ?, 'Drug', 'drug')", (STUDY,)
        )
        ids = np.arange(1, SUBJECTS + 1)
        arm = ids % 3 + 1
        site = ids % 50 + 1
        con.executemany(
            "INSERT INTO subject (id, study_id, site_id, usubjid, subjid, arm_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(int(i), STUDY, int(s), f"B-{i:05d}", f"{i:05d}", int(a), now)
             for i, s, a in zip(ids, site, arm, strict=True)],
        )  # fmt: skip
        start = (date(2022, 1, 1) - EPOCH).days + rng.integers(0, 365, SUBJECTS)
        length = rng.integers(30, 365, SUBJECTS)
        dosed = rng.random(SUBJECTS) >= 0.01
        con.executemany(
            "INSERT INTO exposure (subject_id, drug_id, dose, unit, dose_mg, frequency, start, "
            '"end") VALUES (?, 1, 10, \'mg\', 10, \'QD\', ?, ?)',
            [(int(i), f"{s} 00:00:00.000000", f"{e} 00:00:00.000000")
             for i, s, e in zip(ids[dosed], day_text(start[dosed]),
                                day_text(start[dosed] + length[dosed]), strict=True)],
        )  # fmt: skip
        _events(con, rng, start, length, site, now)
    con.execute("ANALYZE")
    con.close()


def _events(con, rng, start, length, site, now) -> None:  # type: ignore[no-untyped-def]
    socs = [f"SOC {i:02d} DISORDERS" for i in range(26)]
    terms = [f"TERM {i:03d}" for i in range(400)]
    term_soc = rng.integers(0, 26, 400)
    weight = 1 / np.arange(1, 401) ** 0.9
    term = rng.choice(400, EVENTS, p=weight / weight.sum())
    subj = rng.integers(0, SUBJECTS, EVENTS)
    offset = (rng.random(EVENTS) * (length[subj] + 30)).astype(int)
    onset = start[subj] + offset
    early = rng.random(EVENTS) < 0.05
    onset[early] = start[subj][early] - rng.integers(1, 200, int(early.sum()))
    text = day_text(onset).astype(object)
    # month-only dates, only in months entirely after the first dose's month
    month = (rng.random(EVENTS) < 0.03) & ~early & (offset > 62)
    text[month] = [t[:7] for t in text[month]]
    pre = (rng.random(EVENTS) < 0.01) & early
    worse = pre & (rng.random(EVENTS) < 0.5)
    worsened = np.full(EVENTS, None, dtype=object)
    worsened[worse] = day_text(start[subj][worse] + rng.integers(0, 20, int(worse.sum())))
    grade = rng.choice([1, 2, 3, 4, 5], EVENTS, p=[0.5, 0.3, 0.14, 0.05, 0.01])
    serious = (grade >= 3) & (rng.random(EVENTS) < 0.3)
    death = grade == 5
    aesi_term = {t: k for t, k in zip(range(0, 400, 10), ["infection", "hypersensitivity",
                 "infusion_reaction", "gc_toxicity"] * 10, strict=True)}  # fmt: skip
    aesi = [aesi_term.get(int(t), "") for t in term]
    related = rng.random(EVENTS) < 0.3
    withdrawn = rng.random(EVENTS) < 0.02
    status = np.where(rng.random(EVENTS) < 0.01, "draft", "submitted")
    rows = (
        (STUDY, int(s) + 1, int(site[s]), seq, st, terms[t].lower(), terms[t],
         socs[term_soc[t]], int(g), bool(se), bool(de), bool(re), bool(wd),
         "FATAL" if de else "RECOVERED/RESOLVED", tx, a, bool(p), w, now, now)
        for seq, (s, t, g, se, de, re, wd, tx, a, p, w, st) in enumerate(
            zip(subj, term, grade, serious, death, related, withdrawn, text, aesi, pre,
                worsened, status, strict=True), start=1)
    )  # fmt: skip
    con.executemany(
        "INSERT INTO adverseevent (study_id, subject_id, site_id, aeseq, status, version, "
        "aeterm, aedecod, aebodsys, aetoxgr, aeser, aesdth, aeslife, aeshosp, aesdisab, "
        "aescong, aesmie, aerel, aeacn, related, drug_withdrawn, aeout, aestdtc, ongoing, "
        "aesi, preexisting, worsened_dtc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, "
        "?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, '{}', '{}', ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
        rows,
    )


# --- the two timed jobs, each run in a child process -------------------------------------


def run_tables(url: str) -> dict[str, object]:
    from pv.analysis import api
    from pv.analysis.data import BASE_COLUMNS
    from pv.db import make_engine

    needed = set(BASE_COLUMNS).union(*(api.TABLES[n].COLUMNS for n in TABLE_SET))
    assert needed == set(EVENT_COLUMNS), sorted(needed ^ set(EVENT_COLUMNS))
    engine = make_engine(url)
    t0 = time.perf_counter()
    tables = api.build_tables(engine, STUDY, TABLE_SET)
    elapsed = time.perf_counter() - t0
    aet02 = next(t for t in tables if t.name == "AET02")
    counts = {
        f"{r.row_type}|{r.soc or ''}|{r.term or ''}|{arm}": [c.n, c.events]
        for r in aet02.rows
        for arm, c in r.cells.items()
        if arm != "Total" and c.n
    }
    return {"seconds": elapsed, "counts": counts, "rows": {t.name: len(t.rows) for t in tables}}


def _connect(url: str):  # type: ignore[no-untyped-def]
    """A DB-API connection to the bench database and its parameter marker."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return sqlite3.connect(u.database), "?"
    import psycopg

    dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(dsn), "%s"


def run_floor(url: str) -> dict[str, object]:
    import polars as pl

    text, number = pl.String, pl.Int64
    schema = {c: text if c in ("aestdtc", "worsened_dtc", "aebodsys", "aedecod", "aesev",
                                "aeout", "aesi", "aeendtc", "aegrpid", "aespid")
              else number for c in EVENT_COLUMNS}  # fmt: skip
    t0 = time.perf_counter()
    con, mark = _connect(url)
    cur = con.cursor()
    cur.execute(f"SELECT id, arm_id FROM subject WHERE study_id = {mark}", (STUDY,))
    subjects = cur.fetchall()
    cur.execute(
        'SELECT e.subject_id, e.start, e."end" FROM exposure e JOIN subject s '
        f"ON s.id = e.subject_id WHERE s.study_id = {mark}",
        (STUDY,),
    )
    exposure = [(s, str(a), str(b)) for s, a, b in cur.fetchall()]  # text, as SQLite's
    # Integer flags for both databases (PostgreSQL stores booleans), as the loader reads them.
    cols = ", ".join(f"CAST({c} AS INTEGER)" if c in FLAGS else c for c in EVENT_COLUMNS)
    # PostgreSQL: a server-side cursor streams the rows, as the loader's does.
    cursor = con.cursor(name="floor") if mark == "%s" else con.cursor()
    cursor.execute(
        f"SELECT {cols} FROM adverseevent WHERE study_id = {mark} AND status != 'draft'",
        (STUDY,),
    )
    gc.disable()  # as the loader does: row tuples hold no cycles
    parts = []
    while rows := cursor.fetchmany(100_000):
        parts.append(pl.DataFrame(rows, schema=schema, orient="row"))
    gc.enable()
    con.close()
    ev = pl.concat(parts)
    subj = pl.DataFrame(subjects, schema=["subject_id", "arm"], orient="row")
    dose = (
        pl.DataFrame(exposure, schema=["subject_id", "start", "end"], orient="row")
        .with_columns(pl.col(c).str.slice(0, 10).str.to_date() for c in ("start", "end"))
        .group_by("subject_id")
        .agg(first=pl.col("start").min(), last=pl.col("end").max())
    )

    def as_date(col: str) -> pl.Expr:  # month-only dates fall after the first dose's month
        c = pl.col(col)
        return pl.when(c.str.len_chars() == 7).then(c + "-01").otherwise(c).str.to_date()

    day = (
        pl.when(pl.col("preexisting") == 1)
        .then(as_date("worsened_dtc"))
        .otherwise(as_date("aestdtc"))
    )
    te = (
        ev.join(subj, on="subject_id")
        .join(dose, on="subject_id")
        .with_columns(day=day)
        .filter(
            (pl.col("day") >= pl.col("first"))
            & (pl.col("day") <= pl.col("last") + pl.duration(days=30))
        )
    )
    keys = {"term": ["aebodsys", "aedecod"], "soc": ["aebodsys"], "overall": []}
    counts = {}
    for row_type, by in keys.items():
        agg = te.group_by(["arm", *by]).agg(n=pl.col("subject_id").n_unique(), events=pl.len())
        for rec in agg.iter_rows(named=True):
            soc = rec.get("aebodsys") or ""
            term = rec.get("aedecod") or ""
            arm = ARMS[rec["arm"] - 1][0]
            counts[f"{row_type}|{soc}|{term}|{arm}"] = [rec["n"], rec["events"]]
    return {"seconds": time.perf_counter() - t0, "counts": counts}


def child(job: str, url: str, rounds: int) -> None:
    # Warm imports: the timings exclude library start-up.
    if job == "tables":
        import pv.analysis.api  # noqa: F401
        import pv.analysis.stats as stats

        stats.poisson_regression([1, 1], [1.0, 1.0], 0)
        stats.logrank(np.array([1.0, 2.0]), np.array([1, 1]), np.array([0, 1]))
    else:
        import polars  # noqa: F401
    fn = run_tables if job == "tables" else run_floor
    results = [fn(url) for _ in range(rounds)]
    best = min(results, key=lambda r: r["seconds"])  # type: ignore[arg-type, return-value]
    best["all_seconds"] = [r["seconds"] for r in results]
    best["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(best))


def spawn(job: str, url: str, rounds: int) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [sys.executable, __file__, "--child", job, "--url", url, "--rounds", str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLite file (built if missing, kept afterwards)")
    parser.add_argument("--rounds", type=int, default=3)
    add_pg_option(parser)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("tables", "floor"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.rounds)
        return
    tmp = None
    if args.db:
        path = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "bench_tables.sqlite"
    url = bench_database(path, args.pg, study=STUDY, events=EVENTS, build=build)
    # Alternate the two jobs, one fresh child process per run, so that a change in the
    # machine's load affects both alike; report the best run of each.
    runs: dict[str, list[dict]] = {"tables": [], "floor": []}  # type: ignore[type-arg]
    for _ in range(args.rounds):
        for job in runs:
            runs[job].append(spawn(job, url, 1))
    tables, floor = (min(runs[job], key=lambda r: r["seconds"]) for job in ("tables", "floor"))
    for job, best in (("tables", tables), ("floor", floor)):
        best["all_seconds"] = [r["seconds"] for r in runs[job]]
        best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs[job])
    if tables["counts"] != floor["counts"]:
        a, b = tables["counts"], floor["counts"]
        diff = sorted((k, a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k))
        raise SystemExit(f"AET02 counts differ from the polars floor: {diff[:10]}")
    ratio = tables["seconds"] / floor["seconds"]
    print(f"table set {', '.join(TABLE_SET)}: rows {tables['rows']}")
    print(f"  AET02 counts equal the floor's: {len(floor['counts']):,} (row, arm) cells")
    print(f"  tables: {tables['seconds']:.2f} s (runs {_fmt(tables['all_seconds'])}), "
          f"peak RSS {tables['peak_rss_mib']:.0f} MiB")  # fmt: skip
    driver = "psycopg" if args.pg else "sqlite3"
    print(f"  floor ({driver} + polars): {floor['seconds']:.2f} s (runs "
          f"{_fmt(floor['all_seconds'])}), peak RSS {floor['peak_rss_mib']:.0f} MiB")  # fmt: skip
    print(f"  ratio {ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}); "
          f"table set peak memory {tables['peak_rss_mib']:.0f} MiB (target < 1024 MiB: "
          f"{'met' if tables['peak_rss_mib'] < 1024 else 'NOT met'})")  # fmt: skip
    if tmp:
        tmp.cleanup()


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
