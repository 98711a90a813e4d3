"""Scale beyond one database file: the table set and the review queue on PostgreSQL at
10^5, 10^6 and 10^7 adverse events (issue 17, point 4).

    .venv/bin/python bench/bench_scale.py [--url URL] [--scales 1e5,1e6,1e7] [--rounds 3]
                                          [--chunk 200000] [--reuse] [--no-queue]
                                          [--queue-seconds 15] [--clients 10]
                                          [--max-rss-gib 14] [--timeout 3600]
                                          [--out FILE.md] [--json FILE.json]
    .venv/bin/python bench/bench_scale.py --build-only --subjects 100000 --events 10000000

    make bench-scale [PV_SCALE_PG_URL=URL] [BENCH_SCALE_ARGS="--scales 1e6 --reuse"]

URL defaults to postgresql+psycopg://pvtest:pvtest@127.0.0.1:5432/pvscale_{scale}: "{scale}"
gives each scale its own database (pvscale_1e5, pvscale_1e6, pvscale_1e7, created
beforehand by an administrator and owned by the bench role), so `--reuse` keeps all three (`make
bench-scale` passes PV_SCALE_PG_URL; the whole run takes about 30 minutes on 2 cores,
the 10^7 build 3.5-6 of them and 4.8 GB of disk): a bench database whose public schema
is dropped and recreated. Scales: 1e5 = 1,000 subjects and 100,000 events, 1e6 = 10,000
and 10^6, 1e7 = 100,000 and 10^7 (100 events a subject, as bench_tables.py).

Set-up, per scale, in a child process whose time and peak RSS are reported (`--reuse`
keeps a database already holding the scale): the schema is migrated (pv.migrate.upgrade)
and bench_tables.py's study is written directly into PostgreSQL, with its distributions
(study BENCH01, 3 arms with the placebo control first, 50 sites, 1% never dosed, one
daily-dose exposure each, 400 terms over 26 SOCs with skewed frequencies, 5% onsets before
the first dose of which 1 in 100 pre-existing and half of those worsened, 3% month-only
onsets after the first dose's month, grades 1-5 at 50/30/14/5/1%, 30% of grade >= 3
serious, 4 AESI groups, 1% drafts). The events are generated with numpy in chunks of
`--chunk` rows and written with COPY (CSV from polars), so the client holds one chunk at
a time, never the 10^7 rows. The same rows also carry the review queue's shape
(bench_queue_data.py): the 99% non-drafts spread over submitted, under review, queried,
answered, assessed and locked in that bench's proportions, receipt and change time
stamps, and, written by INSERT ... SELECT in the server, assessments (3% of the events:
serious assessed or locked ones), expedited reports (one per 3 assessments, 1 in 100 of
them overdue) and open queries (0.5% of the events, on queried ones), all proportional to
the scale. One database thus serves both benchmarks: one 10^7 build (the long part)
instead of two, and the queue is measured on the very rows the tables count. The
queue_tally insert trigger (one statement-level GROUP BY per COPY) stays on and is checked.
As a restore does, the event table's secondary indexes, unique constraint and foreign keys
are created after the COPY (the same definitions, checked), then VACUUM ANALYZE.

Timed, per scale:

- the table set and its floor: `bench_tables.py --child tables|floor --url URL --rounds 1`,
  a fresh process per run, alternating, `--rounds` each: min/median/max seconds and peak
  RSS, the ratio of the medians, and AET02's counts checked equal to the floor's. A run
  whose resident memory passes `--max-rss-gib` or that outlives `--timeout` is stopped (by
  PID) and reported as failed, with what happened;
- the review queue (unless `--no-queue`): bench_queue.py's two servers (the real app,
  an officer logged in, serving GET /review; the bare page) on the same database, its
  requests, `--clients` connections, `--queue-seconds` of wrk a round (Python threads
  without wrk), rounds alternating bare, queue: min/median/max of p50, p95 and req/s.

Growth between scales: microseconds per AE (median seconds / events) and the marginal
peak RSS per added AE, beside the size of an event row's columns the table set reads
(linear growth: the first stays about constant; a streaming loader: the second stays far
below the rows' size, and far below what row tuples in Python would take).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "postgresql+psycopg://pvtest:pvtest@127.0.0.1:5432/pvscale_{scale}"
STUDY = "BENCH01"  # bench_tables.STUDY and bench_queue_data.STUDY
ARMS = [("Placebo", "PBO", True), ("Drug 10 mg", "D10", False), ("Drug 20 mg", "D20", False)]
SITES = 50
SCALES = {"1e5": (1_000, 100_000), "1e6": (10_000, 1_000_000), "1e7": (100_000, 10_000_000)}
EPOCH = date(1970, 1, 1)
# Non-draft statuses in bench_queue_data's proportions (its draft share is bench_tables' 1%).
STATUSES = ["submitted", "under_review", "queried", "answered", "assessed", "locked"]
STATUS_P = np.array([0.10, 0.06, 0.02, 0.01, 0.30, 0.49]) / 0.98
AESI_GROUPS = ["infection", "hypersensitivity", "infusion_reaction", "gc_toxicity"]
TABLE_COLUMNS = ["subject_id", "aestdtc", "preexisting", "worsened_dtc", "aebodsys", "aedecod",
                 "aeser", "aetoxgr", "aesev", "related", "drug_withdrawn", "aesdth", "aeout",
                 "aesi", "aeendtc", "initial_grade", "aegrpid", "aespid", "aelltcd"]  # fmt: skip
EVENT_COLUMNS = ["id", "study_id", "subject_id", "site_id", "aeseq", "status", "version",
                 "aeterm", "aedecod", "aebodsys", "aetoxgr", "aeser", "aesdth", "aeslife",
                 "aeshosp", "aesdisab", "aescong", "aesmie", "aerel", "aeacn", "related",
                 "drug_withdrawn", "aeout", "aestdtc", "ongoing", "aesi", "preexisting",
                 "worsened_dtc", "created_at", "updated_at", "submitted_at"]  # fmt: skip
CSV = "(FORMAT csv, NULL '\\N')"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def dsn_of(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- the build: streamed into PostgreSQL ------------------------------------------------


def _copy(pg, table: str, df) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    df.write_csv(buf, include_header=False, null_value="\\N",
                 datetime_format="%Y-%m-%d %H:%M:%S%.6f")  # fmt: skip
    cols = ", ".join(f'"{c}"' for c in df.columns)
    with pg.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN {CSV}') as copy:
        copy.write(buf.getbuffer())


def _days(values: np.ndarray):  # type: ignore[no-untyped-def]
    import polars as pl

    return pl.Series(values.astype(np.int32)).cast(pl.Date).cast(pl.String)


def _stamps(us: np.ndarray):  # type: ignore[no-untyped-def]
    import polars as pl

    return pl.Series(us.astype(np.int64)).cast(pl.Datetime("us"))


class Study:
    """The subject-level arrays (small: one entry a subject) and the term lists."""

    def __init__(self, subjects: int, seed: int = 4) -> None:
        rng = np.random.default_rng(seed)
        self.subjects = subjects
        self.start = (date(2022, 1, 1) - EPOCH).days + rng.integers(0, 365, subjects)
        self.length = rng.integers(30, 365, subjects)
        self.dosed = rng.random(subjects) >= 0.01
        ids = np.arange(1, subjects + 1)
        self.site = ids % SITES + 1
        self.arm = ids % 3 + 1
        self.socs = [f"SOC {i:02d} DISORDERS" for i in range(26)]
        self.terms = [f"TERM {i:03d}" for i in range(400)]
        self.term_soc = rng.integers(0, 26, 400)
        weight = 1 / np.arange(1, 401) ** 0.9
        self.term_p = weight / weight.sum()
        self.aesi = ["" for _ in range(400)]
        for k, t in enumerate(range(0, 400, 10)):
            self.aesi[t] = AESI_GROUPS[k % 4]

    def events(self, first_id: int, n: int, rng: np.random.Generator):  # type: ignore[no-untyped-def]
        """Events first_id .. first_id + n - 1, as a polars frame of EVENT_COLUMNS."""
        import polars as pl

        term = rng.choice(400, n, p=self.term_p)
        subj = rng.integers(0, self.subjects, n)
        start = self.start[subj]
        offset = (rng.random(n) * (self.length[subj] + 30)).astype(np.int64)
        onset = start + offset
        early = rng.random(n) < 0.05
        onset[early] = start[early] - rng.integers(1, 200, int(early.sum()))
        month = (rng.random(n) < 0.03) & ~early & (offset > 62)
        pre = (rng.random(n) < 0.01) & early
        worse = pre & (rng.random(n) < 0.5)
        worsened_day = start + rng.integers(0, 20, n)
        grade = rng.choice([1, 2, 3, 4, 5], n, p=[0.5, 0.3, 0.14, 0.05, 0.01])
        serious = (grade >= 3) & (rng.random(n) < 0.3)
        death = grade == 5
        related = rng.random(n) < 0.3
        withdrawn = rng.random(n) < 0.02
        draft = rng.random(n) < 0.01
        status = np.where(draft, 6, rng.choice(6, n, p=STATUS_P))
        # Entered within 30 days of the onset, changed within 30 days of entry (µs).
        created = onset * 86_400_000_000 + (rng.random(n) * 30 * 86_400e6).astype(np.int64)
        updated = created + (rng.random(n) * 30 * 86_400e6).astype(np.int64)
        ids = np.arange(first_id, first_id + n)
        terms = pl.Series(self.terms)
        onset_text = _days(onset)
        return pl.DataFrame(
            {
                "id": ids,
                "study_id": pl.repeat(STUDY, n, eager=True),
                "subject_id": subj + 1,
                "site_id": self.site[subj],
                "aeseq": ids,
                "status": pl.Series([*STATUSES, "draft"]).gather(status),
                "version": np.ones(n, dtype=np.int64),
                "aeterm": terms.str.to_lowercase().gather(term),
                "aedecod": terms.gather(term),
                "aebodsys": pl.Series(self.socs).gather(self.term_soc[term]),
                "aetoxgr": grade,
                "aeser": serious,
                "aesdth": death,
                "aeslife": np.zeros(n, dtype=bool),
                "aeshosp": serious & ~death,
                "aesdisab": np.zeros(n, dtype=bool),
                "aescong": np.zeros(n, dtype=bool),
                "aesmie": np.zeros(n, dtype=bool),
                "aerel": pl.repeat("{}", n, eager=True),
                "aeacn": pl.repeat("{}", n, eager=True),
                "related": related,
                "drug_withdrawn": withdrawn,
                "aeout": pl.Series(["RECOVERED/RESOLVED", "FATAL"]).gather(death.astype(np.int8)),
                "aestdtc": pl.select(
                    pl.when(pl.Series(month)).then(onset_text.str.slice(0, 7)).otherwise(onset_text)
                ).to_series(),
                "ongoing": np.zeros(n, dtype=bool),
                "aesi": pl.Series(self.aesi).gather(term),
                "preexisting": pre,
                "worsened_dtc": pl.select(
                    pl.when(pl.Series(worse)).then(_days(worsened_day))
                ).to_series(),
                "created_at": _stamps(created),
                "updated_at": _stamps(updated),
                "submitted_at": pl.select(
                    pl.when(pl.Series(~draft)).then(_stamps(created))
                ).to_series(),
            }
        )


def _deferred(pg) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    """The event table's secondary indexes and its unique and foreign-key constraints."""
    indexes = pg.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND "
        "tablename = 'adverseevent' AND indexname NOT IN (SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'adverseevent'::regclass) ORDER BY indexname"
    ).fetchall()
    constraints = pg.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
        "'adverseevent'::regclass AND contype IN ('u', 'f') ORDER BY conname"
    ).fetchall()
    return indexes, constraints


def build(url: str, subjects: int, events: int, chunk: int) -> dict[str, object]:
    """Fill the bench database at one scale; phases' seconds and the client's peak RSS."""
    import polars as pl
    import psycopg

    from pv.db import make_engine
    from pv.migrate import upgrade

    phases: dict[str, float] = {}
    t0 = t = time.perf_counter()
    dsn = dsn_of(url)
    with psycopg.connect(dsn, autocommit=True) as pg:  # a bench database: start empty
        pg.execute("DROP SCHEMA public CASCADE")
        pg.execute("CREATE SCHEMA public")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    phases["schema"] = time.perf_counter() - t
    study = Study(subjects)
    now = "2024-01-01 00:00:00"
    with psycopg.connect(dsn) as pg:
        pg.execute("SET TIME ZONE 'UTC'")
        pg.execute("SET maintenance_work_mem = '512MB'")
        t = time.perf_counter()
        pg.execute(
            "INSERT INTO study (id, title, source, updated_at) VALUES (%s, %s, 'sdtm', %s)",
            (STUDY, "Benchmark study", now),
        )
        for pos, (label, code, control) in enumerate(ARMS, start=1):
            pg.execute(
                "INSERT INTO arm (id, study_id, label, code, is_control, position) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (pos, STUDY, label, code, control, pos),
            )
        with pg.cursor() as cur:
            cur.executemany(
                "INSERT INTO site (id, study_id, code, name) VALUES (%s, %s, %s, %s)",
                [(i, STUDY, f"{i:03d}", f"Site {i}") for i in range(1, SITES + 1)],
            )
        pg.execute(
            "INSERT INTO drug (id, study_id, name, key) VALUES (1, %s, 'Drug', 'drug')", (STUDY,)
        )
        ids = np.arange(1, subjects + 1)
        _copy(pg, "subject", pl.DataFrame({
            "id": ids, "study_id": pl.repeat(STUDY, subjects, eager=True), "site_id": study.site,
            "usubjid": [f"B-{i:05d}" for i in ids],
            "subjid": pl.Series(ids).cast(pl.String).str.zfill(5), "arm_id": study.arm,
            "created_at": pl.repeat(now, subjects, eager=True),
        }))  # fmt: skip
        d = study.dosed
        _copy(pg, "exposure", pl.DataFrame({
            "subject_id": ids[d], "drug_id": 1, "dose": 10.0, "unit": "mg", "dose_mg": 10.0,
            "frequency": "QD", "start": _days(study.start[d]) + " 00:00:00",
            "end": _days(study.start[d] + study.length[d]) + " 00:00:00",
        }))  # fmt: skip
        indexes, constraints = _deferred(pg)
        for name, _ in constraints:
            pg.execute(f'ALTER TABLE adverseevent DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            pg.execute(f'DROP INDEX "{name}"')
        pg.commit()
        phases["subjects"] = time.perf_counter() - t
        t = time.perf_counter()
        rng = np.random.default_rng(4)
        done = 0
        while done < events:
            n = min(chunk, events - done)
            _copy(pg, "adverseevent", study.events(done + 1, n, rng))
            pg.commit()
            done += n
            rate = done / (time.perf_counter() - t)
            log(f"  events {done:,}/{events:,} ({done / events:.0%}), {rate:,.0f}/s, "
                f"RSS {_rss_mib():.0f} MiB")  # fmt: skip
        phases["events_copy"] = time.perf_counter() - t
        t = time.perf_counter()
        for name, definition in indexes:
            log(f"  index {name}")
            pg.execute(definition)
        for name, definition in constraints:
            log(f"  constraint {name}")
            pg.execute(f'ALTER TABLE adverseevent ADD CONSTRAINT "{name}" {definition}')
        assert _deferred(pg) == (indexes, constraints), "the event table's schema changed"
        pg.execute("SELECT setval('adverseevent_id_seq', %s)", (events,))
        for table in ("arm", "site", "drug", "subject"):
            pg.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
        pg.commit()
        phases["indexes_constraints"] = time.perf_counter() - t
        t = time.perf_counter()
        _review_rows(pg, events)
        pg.commit()
        phases["review_rows"] = time.perf_counter() - t
        t = time.perf_counter()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE")
        phases["vacuum_analyze"] = time.perf_counter() - t
        size = pg.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    return {
        "seconds": time.perf_counter() - t0,
        "phases": phases,
        "peak_rss_mib": _rss_mib(),
        "database_mib": size / 2**20,
    }


def _review_rows(pg, events: int) -> None:  # type: ignore[no-untyped-def]
    """bench_queue_data's review rows, in proportion: assessments of 3% of the events
    (serious, assessed or locked), an expedited report for every third (1 in 100 of them
    unsent: overdue), open queries on 0.5% (queried events). Written by the server."""
    stamp = "2024-06-01 00:00:00"
    pg.execute(
        "INSERT INTO assessment (event_id, study_id, version, event_version, awareness_date, "
        "seriousness_confirmed, causality, rsi_expectedness, expectedness, override_reasons, "
        "rsi_versions, suspect_drugs, is_susar, fatal_or_life_threatening, assessed_by_name, "
        "assessed_at) SELECT id, study_id, 1, 1, '2023-01-10', true, '{}', '{}', '{}', '{}', "
        "'{}', '[]', id %% 2 = 1, false, 'bench', %s FROM adverseevent WHERE status IN "
        "('assessed', 'locked') AND aeser ORDER BY id LIMIT %s",
        (stamp, events * 3 // 100),
    )
    pg.execute(
        "INSERT INTO expeditedreport (event_id, study_id, kind, clock_days, start_date, "
        "due_date, submitted_date, created_at) SELECT event_id, study_id, 'initial_15', 15, "
        "'2023-01-10', '2023-01-25', CASE WHEN k %% 300 = 0 THEN NULL ELSE DATE '2023-01-20' "
        "END, %s FROM (SELECT event_id, study_id, row_number() OVER (ORDER BY event_id) - 1 "
        "AS k FROM assessment) a WHERE k %% 3 = 0",
        (stamp,),
    )
    pg.execute(
        "INSERT INTO safetyquery (event_id, study_id, site_id, question, status, "
        "raised_by_name, raised_at) SELECT id, study_id, site_id, 'Onset?', 'open', 'bench', "
        "%s FROM adverseevent WHERE status = 'queried' ORDER BY id LIMIT %s",
        (stamp, events // 200),
    )


def holds(url: str, subjects: int, events: int) -> bool:
    """The database already holds this scale's build (finished: the expedited reports are
    written after the events)."""
    import psycopg

    try:
        with psycopg.connect(dsn_of(url)) as pg:
            n_subj, n_ev, n_rep = pg.execute(
                "SELECT (SELECT count(*) FROM subject), (SELECT count(*) FROM adverseevent), "
                "(SELECT count(*) FROM expeditedreport)"
            ).fetchone()  # type: ignore[misc]
    except psycopg.Error:
        return False
    return (n_subj, n_ev) == (subjects, events) and n_rep > 0


def row_bytes(url: str) -> dict[str, float]:
    """An event's size: the columns the table set reads (pg_column_size of the row of
    them, a 1% sample) and the whole heap tuple."""
    import psycopg

    cols = ", ".join(TABLE_COLUMNS)
    with psycopg.connect(dsn_of(url)) as pg:
        read, whole = pg.execute(
            f"SELECT avg(pg_column_size(ROW({cols}))), avg(pg_column_size(e.*)) "
            "FROM adverseevent e TABLESAMPLE SYSTEM (1)"
        ).fetchone()  # type: ignore[misc]
    return {"read_columns": float(read), "row": float(whole)}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- timed jobs in child processes, watched ----------------------------------------------


def _status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def watched(cmd: list[str], *, max_rss_gib: float, timeout: float) -> dict[str, object]:
    """Run `cmd` (prints JSON last), stopping it by PID if its resident memory passes
    `max_rss_gib` or it outlives `timeout`; the JSON, or {"failed": what happened}."""
    with tempfile.TemporaryFile("w+") as err, tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        t0, reason, hwm = time.monotonic(), None, 0
        while proc.poll() is None:
            rss = _status_kib(proc.pid, "VmRSS") or 0
            hwm = max(hwm, _status_kib(proc.pid, "VmHWM") or 0, rss)
            if rss > max_rss_gib * 2**20:
                reason = f"stopped: resident memory {rss / 2**20:.1f} GiB > {max_rss_gib} GiB"
            elif time.monotonic() - t0 > timeout:
                reason = f"stopped: still running after {timeout:.0f} s"
            if reason:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.2)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if reason is None and proc.returncode == 0:
        result = json.loads(stdout.strip().splitlines()[-1])
        result["wall"] = wall
        return result
    reason = reason or f"exit status {proc.returncode}"
    tail = " | ".join(stderr.strip().splitlines()[-3:])
    return {"failed": f"{reason} after {wall:.0f} s, peak RSS seen {hwm / 1024:.0f} MiB; {tail}"}


def table_runs(url: str, rounds: int, max_rss_gib: float, timeout: float) -> dict[str, list]:  # type: ignore[type-arg]
    runs: dict[str, list] = {"tables": [], "floor": []}  # type: ignore[type-arg]
    script = str(HERE / "bench_tables.py")
    for r in range(1, rounds + 1):
        for job in runs:
            cmd = [sys.executable, script, "--child", job, "--url", url, "--rounds", "1"]
            res = watched(cmd, max_rss_gib=max_rss_gib, timeout=timeout)
            runs[job].append(res)
            if "failed" in res:
                log(f"  round {r} {job:6}: FAILED {res['failed']}")
            else:
                log(f"  round {r} {job:6}: {res['seconds']:7.2f} s, "
                    f"peak RSS {res['peak_rss_mib']:6.0f} MiB")  # fmt: skip
    return runs


def queue_runs(url: str, rounds: int, clients: int, seconds: float) -> dict[str, list]:  # type: ignore[type-arg]
    """bench_queue.py's two servers and requests on this database: rounds of bare, queue."""
    import bench_queue as bq
    from bench_queue_data import check_tally
    from served import stop

    check_tally(url)
    use_wrk = shutil.which("wrk") is not None
    results: dict[str, list] = {"bare": [], "queue": []}  # type: ignore[type-arg]
    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        logfile = Path(tmp) / "servers.log"
        try:
            queue_proc, queue_port = bq.start("queue", url, logfile)
            servers.append(queue_proc)
            bare_proc, bare_port = bq.start("bare", url, logfile)
            servers.append(bare_proc)
            queue_reqs, bare_reqs = bq.requests_for(queue_port, bq.login(queue_port, url))
            targets = {
                "bare": (bare_proc.pid, bare_port, bare_reqs),
                "queue": (queue_proc.pid, queue_port, queue_reqs),
            }
            for _pid, port, reqs in targets.values():  # warm-up, as bench_queue
                bq.load(port, reqs, total=300, clients=clients, limit_s=120)
            for r in range(1, rounds + 1):
                for name, (pid, port, reqs) in targets.items():
                    if use_wrk:
                        res = bq.load_wrk(port, reqs, seconds=seconds, clients=clients, pid=pid)
                    else:
                        res = bq.load(port, reqs, total=3000, clients=clients,
                                      limit_s=120, pid=pid)  # fmt: skip
                    results[name].append(res)
                    log(bq._line(r, name, res))
        except BaseException:
            if logfile.exists():
                log(logfile.read_text()[-2000:])
            raise
        finally:
            for proc in servers:
                stop(proc)
    results["driver"] = ["wrk" if use_wrk else "python"]
    return results


# --- the run -------------------------------------------------------------------------------


def _mmm(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def _f(values: tuple[float, float, float], fmt: str = ".2f") -> str:
    return "/".join(format(v, fmt) for v in values)


def measure(args: argparse.Namespace, scale: str) -> dict[str, object]:
    subjects, events = SCALES[scale]
    res: dict[str, object] = {"scale": scale, "subjects": subjects, "events": events}
    # "{scale}" in the URL gives each scale its own database (kept with --reuse)
    args = argparse.Namespace(**{**vars(args), "url": args.url.replace("{scale}", scale)})
    log(f"== {scale}: {subjects:,} subjects, {events:,} events")
    if args.reuse and holds(args.url, subjects, events):
        log("  the database holds this scale: reused")
        res["build"] = None
    else:
        cmd = [sys.executable, __file__, "--build-only", "--url", args.url, "--subjects",
               str(subjects), "--events", str(events), "--chunk", str(args.chunk)]  # fmt: skip
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        res["build"] = json.loads(out.strip().splitlines()[-1])
        b = res["build"]
        log(f"  built in {b['seconds']:.0f} s, client peak RSS {b['peak_rss_mib']:.0f} MiB, "  # type: ignore[index]
            f"database {b['database_mib']:.0f} MiB")  # type: ignore[index]  # fmt: skip
    res["row_bytes"] = row_bytes(args.url)
    runs = table_runs(args.url, args.rounds, args.max_rss_gib, args.timeout)
    res["runs"] = runs
    ok = {job: [r for r in rs if "failed" not in r] for job, rs in runs.items()}
    if ok["tables"] and ok["floor"]:
        a, b = ok["tables"][0]["counts"], ok["floor"][0]["counts"]
        if a != b:
            diff = sorted((k, a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise SystemExit(f"{scale}: AET02 counts differ from the floor's: {diff[:10]}")
        res["cells"] = len(b)
        log(f"  AET02 counts equal the floor's: {len(b):,} (row, arm) cells")
    for rs in runs.values():
        for r in rs:
            r.pop("counts", None)
    if not args.no_queue:
        res["queue"] = queue_runs(args.url, args.rounds, args.clients, args.queue_seconds)
    return res


def summarize(results: list[dict], args: argparse.Namespace) -> str:  # type: ignore[type-arg]
    lines = []
    w = lines.append
    w("| scale | build s | build client peak RSS MiB | DB MiB | tables s min/med/max | "
      "tables peak RSS MiB min/med/max | floor s min/med/max | floor peak RSS MiB "
      "min/med/max | ratio (medians) | tables µs/AE | floor µs/AE |")  # fmt: skip
    w("|" + "---|" * 11)
    stats: dict[str, dict[str, tuple[float, float, float]]] = {}
    for res in results:
        scale, events = res["scale"], res["events"]
        b = res.get("build")
        build = (f"{b['seconds']:.0f}", f"{b['peak_rss_mib']:.0f}", f"{b['database_mib']:.0f}") \
            if b else ("reused", "-", "-")  # fmt: skip
        cells, st = [], {}
        for job in ("tables", "floor"):
            ok = [r for r in res["runs"][job] if "failed" not in r]
            failed = len(res["runs"][job]) - len(ok)
            if not ok:
                cells += ["FAILED", "FAILED"]
                continue
            st[job] = _mmm([r["seconds"] for r in ok])
            st[job + "_rss"] = _mmm([r["peak_rss_mib"] for r in ok])
            note = f" ({failed} failed)" if failed else ""
            cells += [_f(st[job]) + note, _f(st[job + "_rss"], ".0f")]
        stats[scale] = st
        ratio = f"{st['tables'][1] / st['floor'][1]:.2f}x" if len(st) == 4 else "-"
        per_ae = [f"{st[j][1] / events * 1e6:.2f}" if j in st else "-" for j in ("tables", "floor")]
        w(f"| {scale} | {' | '.join(build)} | {' | '.join(cells)} | {ratio} | "
          f"{' | '.join(per_ae)} |")  # fmt: skip
    w("")
    w(
        "Growth between scales (medians): marginal time and peak RSS per added AE, beside an "
        "event's size in PostgreSQL (the table set's columns / the whole row):"
    )
    w("")
    w(
        "| from → to | tables µs/AE | tables peak RSS bytes/AE | floor µs/AE | "
        "floor peak RSS bytes/AE | read columns bytes/AE | row bytes/AE |"
    )
    w("|" + "---|" * 7)
    for lo, hi in zip(results, results[1:], strict=False):
        d = hi["events"] - lo["events"]
        a, b = stats[lo["scale"]], stats[hi["scale"]]
        cells = []
        for job in ("tables", "floor"):
            if job in a and job in b:
                cells.append(f"{(b[job][1] - a[job][1]) / d * 1e6:.2f}")
                rss = b[job + "_rss"][1] - a[job + "_rss"][1]
                cells.append(f"{rss * 2**20 / d:.0f}")
            else:
                cells += ["-", "-"]
        rb = hi["row_bytes"]
        w(f"| {lo['scale']} → {hi['scale']} | {' | '.join(cells)} | "
          f"{rb['read_columns']:.0f} | {rb['row']:.0f} |")  # fmt: skip
    failures = [(res["scale"], job, r["failed"]) for res in results
                for job, rs in res["runs"].items() for r in rs if "failed" in r]  # fmt: skip
    if failures:
        w("")
        w("Failed runs:")
        for scale, job, what in failures:
            w(f"- {scale} {job}: {what}")
    queued = [res for res in results if res.get("queue")]
    if queued:
        w("")
        w(
            f"Review queue (GET /review, officer, {args.clients} clients, "
            f"{queued[0]['queue']['driver'][0]}, {args.queue_seconds:.0f} s a round), "
            "min/median/max over the rounds:"
        )
        w("")
        w("| scale | server | p50 ms | p95 ms | req/s | server CPU ms/request |")
        w("|" + "---|" * 6)
        for res in queued:
            for name in ("queue", "bare"):
                rs = res["queue"][name]
                vals = [_f(_mmm([r[k] for r in rs]), ".1f" if k != "cpu_ms" else ".2f")
                        for k in ("p50", "p95", "rps", "cpu_ms")]  # fmt: skip
                w(f"| {res['scale']} | {name} | {' | '.join(vals)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=DEFAULT_URL, help="the bench PostgreSQL database (replaced)")
    ap.add_argument("--scales", default="1e5,1e6,1e7", help=f"comma-separated, of {list(SCALES)}")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=200_000, help="events generated per COPY")
    ap.add_argument("--reuse", action="store_true", help="keep a database holding the scale")
    ap.add_argument("--no-queue", action="store_true", help="skip the review queue")
    ap.add_argument("--queue-seconds", type=float, default=15.0)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--max-rss-gib", type=float, default=14.0,
                    help="stop a table run whose resident memory passes this")  # fmt: skip
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds a table run may take")
    ap.add_argument("--out", type=Path, help="write the summary (markdown) here")
    ap.add_argument("--json", type=Path, help="write every figure (JSON) here")
    ap.add_argument("--build-only", action="store_true", help="build one scale and stop")
    ap.add_argument("--subjects", type=int, help="with --build-only")
    ap.add_argument("--events", type=int, help="with --build-only")
    args = ap.parse_args()
    if args.build_only:
        subjects, events = args.subjects or 100_000, args.events or 10_000_000
        print(json.dumps(build(args.url, subjects, events, args.chunk)), flush=True)
        return
    scales = args.scales.split(",")
    if unknown := set(scales) - set(SCALES):
        ap.error(f"unknown scales {sorted(unknown)}")
    sys.path.insert(0, str(HERE))
    results = [measure(args, scale) for scale in scales]
    command = " ".join(["python", "bench/bench_scale.py", *sys.argv[1:]])
    text = (
        f"`{command}` on {os.cpu_count()} CPUs, PostgreSQL "
        f"{_pg_version(args.url.replace('{scale}', scales[0]))}\n\n" + summarize(results, args)
    )
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


def _pg_version(url: str) -> str:
    import psycopg

    with psycopg.connect(dsn_of(url)) as pg:
        return str(pg.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


if __name__ == "__main__":
    main()
