"""Bench data for bench_queue.py: 1,000,000 adverse events in a SQLite file, with the
review rows (assessments, expedited reports, queries) a queue page decorates.

Bulk `sqlite3` inserts as benchmark set-up; the queue_tally triggers of migration 0002
stay in place and keep the tally (checked by `check_tally`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

STUDY, SUBJECTS, EVENTS, SITES = "BENCH01", 10_000, 1_000_000, 50
STATUSES = ["draft", "submitted", "under_review", "queried", "answered", "assessed", "locked"]
STATUS_P = [0.02, 0.10, 0.06, 0.02, 0.01, 0.30, 0.49]


def _stamp(seconds: np.ndarray) -> list[str]:
    base = np.datetime64("2021-01-01T00:00:00", "us")
    values = base + (seconds * 1_000_000).astype("timedelta64[us]")
    return [s.replace("T", " ") for s in np.datetime_as_string(values, unit="us")]


def build(path: Path) -> None:
    from pv.db import make_engine
    from pv.migrate import upgrade
    from pv.terminology.aesi import load_aesi
    from pv.terminology.ctcae import load_ctcae

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    load_ctcae(engine)
    engine.dispose()
    rng = np.random.default_rng(5)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    catalog = load_aesi()
    terms = con.execute("SELECT code, term, soc FROM term ORDER BY code").fetchall()
    terms = [terms[i] for i in rng.choice(len(terms), 300, replace=False)]
    aesi = [",".join(catalog.classify(code)) for code, _, _ in terms]
    now = "2024-06-01 00:00:00.000000"
    with con:
        con.execute(
            "INSERT INTO study (id, title, source, updated_at) VALUES (?, 'Bench', 'sdtm', ?)",
            (STUDY, now),
        )
        con.executemany(
            "INSERT INTO arm (id, study_id, label, code, is_control, position) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(i, STUDY, f"Arm {i}", f"A{i}", i == 1, i) for i in (1, 2, 3)],
        )
        con.executemany(
            "INSERT INTO site (id, study_id, code, name) VALUES (?, ?, ?, ?)",
            [(i, STUDY, f"{i:02d}", f"Site {i}") for i in range(1, SITES + 1)],
        )
        con.executemany(
            "INSERT INTO subject (id, study_id, site_id, usubjid, subjid, arm_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (i, STUDY, i % SITES + 1, f"BENCH01-{i:05d}", f"{i:05d}", i % 3 + 1, now)
                for i in range(1, SUBJECTS + 1)
            ],
        )
    _events(con, rng, terms, aesi)
    _review_rows(con, rng)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _events(con: sqlite3.Connection, rng: np.random.Generator, terms: list, aesi: list) -> None:
    weight = 1 / np.arange(1, len(terms) + 1) ** 0.8
    term = rng.choice(len(terms), EVENTS, p=weight / weight.sum())
    subject = np.repeat(np.arange(1, SUBJECTS + 1), EVENTS // SUBJECTS)
    grade = rng.choice([1, 2, 3, 4, 5], EVENTS, p=[0.42, 0.35, 0.16, 0.05, 0.02])
    serious = (grade >= 4) | ((grade == 3) & (rng.random(EVENTS) < 0.35))
    status = rng.choice(STATUSES, EVENTS, p=STATUS_P)
    created = rng.random(EVENTS) * 3.4 * 365 * 86400
    updated = _stamp(created + rng.random(EVENTS) * 30 * 86400)
    created_s = _stamp(created)
    cols = (
        "study_id, subject_id, site_id, aeseq, status, version, aeterm, aelltcd, aedecod, "
        "aebodsys, terminology, aetoxgr, aeser, aesdth, aeslife, aeshosp, aesdisab, aescong, "
        "aesmie, aerel, aeacn, related, drug_withdrawn, aeout, aestdtc, ongoing, aesi, "
        "preexisting, created_at, updated_at, submitted_at"
    )
    sql = f"INSERT INTO adverseevent ({cols}) VALUES ({', '.join('?' * 31)})"
    batch = []
    for i in range(EVENTS):
        code, name, soc = terms[term[i]]
        s, g, st = int(subject[i]), int(grade[i]), str(status[i])
        batch.append(
            (
                STUDY,
                s,
                s % SITES + 1,
                i % (EVENTS // SUBJECTS) + 1,
                st,
                1,
                name.lower(),
                code,
                name,
                soc,
                "CTCAE 5.0",
                g,
                bool(serious[i]),
                g == 5,
                g == 4,
                bool(serious[i]),
                0,
                0,
                0,
                "{}",
                "{}",
                0,
                0,
                "FATAL" if g == 5 else "RECOVERED/RESOLVED",
                created_s[i][:10],
                0,
                aesi[term[i]],
                0,
                created_s[i],
                updated[i],
                None if st == "draft" else created_s[i],
            )
        )
        if len(batch) == 50_000:
            with con:
                con.executemany(sql, batch)
            batch = []
            print(f"\r  events: {i + 1:,}", end="", flush=True)
    print()


def _review_rows(con: sqlite3.Connection, rng: np.random.Generator) -> None:
    """Assessments, expedited reports (some overdue) and open queries on later statuses."""
    ids = [
        r[0]
        for r in con.execute(
            "SELECT id FROM adverseevent WHERE status IN "
            "('assessed', 'locked') AND aeser = 1 LIMIT 30000"
        )
    ]
    now = "2024-06-01 00:00:00.000000"
    with con:
        con.executemany(
            "INSERT INTO assessment (event_id, study_id, version, event_version, awareness_date, "
            "seriousness_confirmed, causality, rsi_expectedness, expectedness, override_reasons, "
            "rsi_versions, suspect_drugs, is_susar, fatal_or_life_threatening, assessed_by_name, "
            "assessed_at) VALUES (?, ?, 1, 1, '2023-01-10', 1, '{}', '{}', '{}', '{}', '{}', "
            "'[]', ?, 0, 'bench', ?)",
            [(e, STUDY, i % 2, now) for i, e in enumerate(ids)],
        )
        con.executemany(
            "INSERT INTO expeditedreport (event_id, study_id, kind, clock_days, start_date, "
            "due_date, submitted_date, created_at) VALUES (?, ?, 'initial_15', 15, ?, ?, ?, ?)",
            [
                (e, STUDY, "2023-01-10", "2023-01-25", None if i % 100 == 0 else "2023-01-20", now)
                for i, e in enumerate(ids[::3][:20_000])
            ],
        )
        queried = [
            r[0]
            for r in con.execute(
                "SELECT id, site_id FROM adverseevent WHERE status = 'queried' LIMIT 5000"
            )
        ]
        con.executemany(
            "INSERT INTO safetyquery (event_id, study_id, site_id, question, status, "
            "raised_by_name, raised_at) SELECT id, study_id, site_id, 'Onset?', 'open', 'bench', ? "
            "FROM adverseevent WHERE id = ?",
            [(now, e) for e in queried],
        )


def check_tally(url: str) -> None:
    """The queue tally (kept by triggers) equals a count of the events, per status."""
    import sqlalchemy as sa

    from pv.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        counted = dict(
            conn.execute(sa.text("SELECT status, count(*) FROM adverseevent GROUP BY status")).all()
        )
        tally = dict(
            conn.execute(sa.text("SELECT status, sum(n) FROM queue_tally GROUP BY status")).all()
        )
    engine.dispose()
    tally = {k: int(v) for k, v in tally.items()}
    assert counted == tally, (counted, tally)
    print(f"  queue_tally matches the events: {sum(counted.values()):,} in {len(counted)} statuses")
