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
alternate, `--rounds` times each):

- tables: `build_tables(engine, study, [AET01, AET02, AET04, AET05, AET01_AESI])`, end to
  end from the database (the Arrow read of pv/analysis/fetch.py, TEAE derivation, counts,
  statistics);
- floor: the same event columns plus subjects and exposure read through ADBC into Arrow
  as stored (`adbc_driver_sqlite`, or `adbc_driver_postgresql` with `--pg`), then a polars
  group-by giving AET02's counts (subjects and events per arm for every term, SOC and
  overall row, with the same treatment-emergence rule). The benchmark asserts these
  counts equal AET02's.

Reported: min/median/max wall time of each over the rounds, the ratio of the medians
(issue 17's target <= 1.3x; and the table set <= 1.2 s) and the largest peak resident
memory of each job's children (ru_maxrss: includes the interpreter and the libraries;
target <= 600 MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
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
# Issue 17's targets: the table set against the ADBC -> polars floor, its time and memory.
RATIO_TARGET, SECONDS_TARGET, MIB_TARGET = 1.3, 1.2, 600
ARMS = [("Placebo", "PBO", True), ("Drug 10 mg", "D10", False), ("Drug 20 mg", "D20", False)]
# The columns the table set reads (data.BASE_COLUMNS + each table's COLUMNS); checked below.
EVENT_COLUMNS = ["subject_id", "aestdtc", "preexisting", "worsened_dtc", "aebodsys", "aedecod",
                 "aeser", "aetoxgr", "aesev", "related", "drug_withdrawn", "aesdth", "aeout",
                 "aesi", "aeendtc", "initial_grade", "aegrpid", "aespid", "aelltcd"]  # fmt: skip
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


def _adbc(url: str):  # type: ignore[no-untyped-def]
    """An ADBC DB-API connection to the bench database and its parameter marker."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as sqlite

        return sqlite.connect(str(Path(str(u.database)).resolve())), "?"
    import adbc_driver_postgresql.dbapi as postgresql

    return postgresql.connect(u.set(drivername="postgresql").render_as_string(False)), "$1"


def _arrow(con, sql: str, args: tuple, sqlite: bool):  # type: ignore[no-untyped-def]
    cur = con.cursor()
    if sqlite:
        # The driver types a column by its first batch: one batch for the whole result, so
        # that a column NULL for its first rows is typed by the rows that follow.
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "2000000"})
    cur.execute(sql, args)
    table = cur.fetch_arrow_table()
    cur.close()
    return table


def run_floor(url: str) -> dict[str, object]:
    """The floor: the same columns read through ADBC into Arrow, as stored (no casts, no
    packing), then polars computes AET02's counts with the same treatment-emergence rule."""
    import polars as pl

    t0 = time.perf_counter()
    con, mark = _adbc(url)
    sqlite = mark == "?"
    subjects = pl.from_arrow(
        _arrow(con, f"SELECT id AS subject_id, arm_id AS arm FROM subject WHERE study_id = {mark}",
               (STUDY,), sqlite)
    )  # fmt: skip
    exposure = pl.from_arrow(
        _arrow(
            con,
            'SELECT e.subject_id, e.start, e."end" FROM exposure e JOIN subject s '
            f"ON s.id = e.subject_id WHERE s.study_id = {mark}",
            (STUDY,),
            sqlite,
        )
    )
    ev = pl.from_arrow(
        _arrow(
            con,
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM adverseevent WHERE study_id = {mark} "
            "AND status != 'draft'",
            (STUDY,),
            sqlite,
        )
    )
    con.close()

    def day(col: str) -> pl.Expr:  # SQLite: text stamps; PostgreSQL: timestamps
        c = pl.col(col)
        return (
            c.str.slice(0, 10).str.to_date() if exposure.schema[col] == pl.String else c.dt.date()
        )

    dose = exposure.group_by("subject_id").agg(first=day("start").min(), last=day("end").max())

    def as_date(col: str) -> pl.Expr:  # month-only dates fall after the first dose's month
        c = pl.col(col).cast(pl.String)
        return pl.when(c.str.len_chars() == 7).then(c + "-01").otherwise(c).str.to_date()

    onset = (
        pl.when(pl.col("preexisting").cast(pl.Int8) == 1)
        .then(as_date("worsened_dtc"))
        .otherwise(as_date("aestdtc"))
    )
    te = (
        ev.join(subjects, on="subject_id")
        .join(dose, on="subject_id")
        .with_columns(day=onset)
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
    t_med = statistics.median(tables["all_seconds"])
    f_med = statistics.median(floor["all_seconds"])
    ratio = t_med / f_med
    driver = "ADBC PostgreSQL" if args.pg else "ADBC SQLite"
    print(f"table set {', '.join(TABLE_SET)}: rows {tables['rows']}")
    print(f"  AET02 counts equal the floor's: {len(floor['counts']):,} (row, arm) cells")
    print(f"  tables: {_fmt(tables['all_seconds'])} s (min/median/max of {args.rounds}), "
          f"peak RSS {tables['peak_rss_mib']:.0f} MiB")  # fmt: skip
    print(f"  floor ({driver} -> polars): {_fmt(floor['all_seconds'])} s, "
          f"peak RSS {floor['peak_rss_mib']:.0f} MiB")  # fmt: skip
    print(f"  ratio of medians {ratio:.2f}x (target <= {RATIO_TARGET}x: "
          f"{'met' if ratio <= RATIO_TARGET else 'NOT met'}); table set median {t_med:.2f} s "
          f"(target <= {SECONDS_TARGET} s: {'met' if t_med <= SECONDS_TARGET else 'NOT met'}); "
          f"peak memory {tables['peak_rss_mib']:.0f} MiB (target <= {MIB_TARGET} MiB: "
          f"{'met' if tables['peak_rss_mib'] <= MIB_TARGET else 'NOT met'})")  # fmt: skip
    if tmp:
        tmp.cleanup()


def _fmt(values: list[float]) -> str:
    """min/median/max."""
    return f"{min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f}"


if __name__ == "__main__":
    main()
