"""The closed-session DSMB workbook at scale: 10,000 subjects, 100,000 adverse events (issue 6).

    .venv/bin/python bench/bench_workbook.py [--db FILE] [--rounds 3] [--keep DIR]

Set-up (not timed): a SQLite file migrated to the current schema is filled with bulk
`sqlite3` inserts: 2 arms (placebo comparator, "Drugmab" + prednisone), 50 sites, 10,000
subjects, one prednisone daily-dose period each and 6 Drugmab infusions for each subject of
the Drugmab arm, and 100,000 adverse events (verbatim text, CTCAE grade, about 6% serious
with a narrative, relationship and action per drug, AESI keys, 3% partial onset dates).
The file is kept and reused (`--db`) when it already exists.

Timed, each round in a fresh child process with warm imports (best of `--rounds`):

- workbook: `build_dsmb_workbook(session="closed")`, end to end from the database: data
  load, the seven tables, the listings (all 100,000 AEs, SAEs, deaths, each AESI grouping),
  the exposure summary, the charts (drawn by a child process while the listings are
  written; its peak memory is reported separately), the cover (checksum) and the save;
- bare dump: the same 100,000 events x 20 listing columns fetched with `sqlite3` in listing
  order and written with `ws.append` to an openpyxl write-only workbook (lxml installed),
  then saved. Reported with and without its fetch; the target compares with the dump alone.

Reported: best wall times, the ratio (target <= 1.2x) and each child's peak resident memory
(ru_maxrss of the child: interpreter, libraries and data; target <= 300 MiB).
"""

from __future__ import annotations

import argparse
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

STUDY = "BENCHWB"
SUBJECTS = 10_000
EVENTS = 100_000
CUTOFF = date(2024, 6, 30)
EPOCH = date(1970, 1, 1)
DUMP_COLUMNS = (
    "s.code, sj.usubjid, a.label, sj.age, sj.sex, e.aeterm, e.aedecod, e.aebodsys, e.aestdtc, "
    "e.aeendtc, e.aetoxgr, e.aeser, e.aeout, e.aecontrt, e.aesi, e.aeseq, e.related, "
    "e.drug_withdrawn, e.ongoing, e.status"
)
VERBATIM = (
    "headache",
    "nausea after breakfast",
    "upper respiratory tract infection",
    "rash on both forearms",
    "fatigue",
    "urinary tract infection",
    "insomnia",
    "raised blood pressure",
    "back pain",
    "herpes zoster, T6 dermatome",
    "infusion reaction with rigors and fever",
    "hyperglycaemia",
    "moon face",
)
TREATMENT = (
    "paracetamol",
    "amoxicillin 500 mg tid 7 days",
    "none",
    "valaciclovir 1 g tid",
    "cetirizine 10 mg",
    "amlodipine 5 mg qd",
)
RELATION = ("NOT RELATED", "UNLIKELY RELATED", "POSSIBLY RELATED", "RELATED")
AESI = (
    "",
    "",
    "",
    "infection",
    "gc_toxicity",
    "infection,gc_toxicity",
    "hypersensitivity",
    "infusion_reaction",
)


def day_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D")


def build(path: Path) -> None:
    from pv.db import make_engine
    from pv.migrate import upgrade

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    rng = np.random.default_rng(6)
    now = datetime(2024, 1, 1).isoformat(" ")
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    with con:
        con.execute(
            "INSERT INTO study (id, nct_id, title, source, updated_at) VALUES "
            "(?, 'NCT99999999', 'Workbook benchmark study', 'ctgov', ?)",
            (STUDY, now),
        )
        con.executemany(
            "INSERT INTO arm (id, study_id, label, code, is_control, position) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (1, STUDY, "Placebo + prednisone", "PBO", True, 0),
                (2, STUDY, "Drugmab + prednisone", "DRG", False, 1),
            ],
        )
        con.executemany(
            "INSERT INTO site (id, study_id, code, name) VALUES (?, ?, ?, ?)",
            [(i, STUDY, f"{i:03d}", f"Site {i}") for i in range(1, 51)],
        )
        con.executemany(
            "INSERT INTO drug (id, study_id, name, key) VALUES (?, ?, ?, ?)",
            [(1, STUDY, "Prednisone", "prednisone"), (2, STUDY, "Drugmab", "drugmab")],
        )
        con.executemany(
            "INSERT INTO armdrug (arm_id, drug_id) VALUES (?, ?)", [(1, 1), (2, 1), (2, 2)]
        )
        ids = np.arange(1, SUBJECTS + 1)
        arm, site = ids % 2 + 1, ids % 50 + 1
        con.executemany(
            "INSERT INTO subject (id, study_id, site_id, usubjid, subjid, arm_id, sex, age, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    int(i),
                    STUDY,
                    int(s),
                    f"BWB-{s:03d}-{i:05d}",
                    f"{i:05d}",
                    int(a),
                    "F" if i % 3 else "M",
                    int(20 + i % 60),
                    now,
                )
                for i, s, a in zip(ids, site, arm, strict=True)
            ],
        )
        start = (date(2022, 1, 1) - EPOCH).days + rng.integers(0, 365, SUBJECTS)
        length = rng.integers(60, 365, SUBJECTS)
        con.executemany(
            "INSERT INTO exposure (subject_id, drug_id, dose, unit, dose_mg, route, frequency, "
            "start, \"end\") VALUES (?, 1, 20, 'mg', 20, 'ORAL', 'QD', ?, ?)",
            [
                (int(i), f"{s} 00:00:00.000000", f"{e} 00:00:00.000000")
                for i, s, e in zip(ids, day_text(start), day_text(start + length), strict=True)
            ],
        )
        infusions = [
            (int(i), f"{d}T09:00:00".replace("T", " ") + ".000000")
            for i, s in zip(ids, start, strict=True)
            if i % 2 == 1
            for d in day_text(s + np.array([0, 14, 28, 56, 84, 112]))
        ]
        con.executemany(
            "INSERT INTO exposure (subject_id, drug_id, dose, unit, dose_mg, route, frequency, "
            "start) VALUES (?, 2, 10, 'mg/kg', 700, 'INTRAVENOUS', 'ONCE', ?)",
            infusions,
        )
        _events(con, rng, start, length, site, now)
    con.execute("ANALYZE")
    con.close()


def _events(con, rng, start, length, site, now) -> None:  # type: ignore[no-untyped-def]
    socs = [f"SOC {i:02d} disorders" for i in range(26)]
    terms = [f"Term {i:03d}" for i in range(400)]
    term_soc = rng.integers(0, 26, 400)
    weight = 1 / np.arange(1, 401) ** 0.9
    term = rng.choice(400, EVENTS, p=weight / weight.sum())
    subj = rng.integers(0, SUBJECTS, EVENTS)
    onset = start[subj] + (rng.random(EVENTS) * (length[subj] + 30)).astype(int) - 10
    text = day_text(onset).astype(object)
    partial = rng.random(EVENTS) < 0.03
    text[partial] = [t[:7] for t in text[partial]]
    end = day_text(onset + rng.integers(1, 40, EVENTS)).astype(object)
    ongoing = rng.random(EVENTS) < 0.15
    end[ongoing] = None
    grade = rng.choice([1, 2, 3, 4, 5], EVENTS, p=[0.5, 0.3, 0.14, 0.05, 0.01])
    serious = (grade >= 3) & (rng.random(EVENTS) < 0.4)
    rows = []
    seq: dict[int, int] = {}
    for k in range(EVENTS):
        s = int(subj[k])
        seq[s] = seq.get(s, 0) + 1
        drugs = ("prednisone", "drugmab") if s % 2 == 0 else ("prednisone",)  # id = s + 1
        rel = {d: RELATION[(k + j) % 4] for j, d in enumerate(drugs)}
        acn = {d: "DOSE NOT CHANGED" for d in drugs}
        g = int(grade[k])
        rows.append(
            (
                STUDY,
                s + 1,
                int(site[s]),
                seq[s],
                "submitted",
                VERBATIM[k % len(VERBATIM)],
                terms[term[k]],
                socs[term_soc[term[k]]],
                g,
                bool(serious[k]),
                g == 5,
                bool(serious[k]) and g < 5,
                json.dumps(rel),
                json.dumps(acn),
                "RELATED" in rel.values(),
                "FATAL" if g == 5 else "RECOVERED/RESOLVED",
                text[k],
                end[k],
                bool(ongoing[k]),
                TREATMENT[k % 6] if k % 5 else None,
                f"Narrative of event {k}: admitted, treated, discharged." if serious[k] else None,
                AESI[k % len(AESI)],
                now,
                now,
            )
        )
    con.executemany(
        "INSERT INTO adverseevent (study_id, subject_id, site_id, aeseq, status, version, aeterm, "
        "aedecod, aebodsys, aetoxgr, aeser, aesdth, aeslife, aeshosp, aesdisab, aescong, aesmie, "
        "aerel, aeacn, related, drug_withdrawn, aeout, aestdtc, aeendtc, ongoing, aecontrt, "
        "narrative, aesi, preexisting, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, "
        "?, ?, ?, ?, 0, ?, 0, 0, 0, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
        rows,
    )


# --- the timed jobs, each in a child process ---------------------------------------------


def run_workbook(path: str, out: str) -> dict[str, object]:
    from pv.db import make_engine
    from pv.exports.workbook import build_dsmb_workbook

    engine = make_engine(f"sqlite:///{path}")
    t0 = time.perf_counter()
    rows = build_dsmb_workbook(engine, study_id=STUDY, cutoff=CUTOFF, session="closed", out=out)
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def run_dump(path: str, out: str) -> dict[str, object]:
    from openpyxl import Workbook

    t0 = time.perf_counter()
    con = sqlite3.connect(path)
    rows = con.execute(
        f"SELECT {DUMP_COLUMNS} FROM adverseevent e JOIN subject sj ON sj.id = e.subject_id "
        "JOIN site s ON s.id = sj.site_id LEFT JOIN arm a ON a.id = sj.arm_id "
        "WHERE e.study_id = ? AND e.status != 'draft' "
        "ORDER BY s.code, sj.usubjid, e.aestdtc NULLS LAST, e.aeseq",
        (STUDY,),
    ).fetchall()
    con.close()
    t1 = time.perf_counter()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("dump")
    for row in rows:
        ws.append(row)
    wb.save(out)
    t2 = time.perf_counter()
    return {
        "seconds": t2 - t1,
        "with_fetch": t2 - t0,
        "rows": len(rows),
        "cells": len(rows[0]) * len(rows),
    }


def child(job: str, path: str, out: str) -> None:
    import openpyxl  # noqa: F401  (warm imports: the timings exclude library start-up)

    import pv.analysis.api  # noqa: F401
    import pv.exports.workbook  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF)
    result = (run_workbook if job == "workbook" else run_dump)(path, out)
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    result["cpu_s"] = me.ru_utime + me.ru_stime - before.ru_utime - before.ru_stime
    result["children_cpu_s"] = kids.ru_utime + kids.ru_stime
    result["peak_rss_mib"] = me.ru_maxrss / 1024
    # the chart-drawing process the workbook starts (pv.exports.charts_job), if any
    result["children_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


def spawn(job: str, path: Path, out: Path) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, __file__, "--child", job, "--db", str(path), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLite file (built if missing, kept afterwards)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", help="directory to keep the workbooks in")
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("workbook", "dump"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db, args.out)
        return
    tmp = tempfile.TemporaryDirectory()
    path = Path(args.db) if args.db else Path(tmp.name) / "bench_workbook.sqlite"
    keep = Path(args.keep) if args.keep else Path(tmp.name)
    keep.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        t0 = time.perf_counter()
        build(path)
        print(
            f"set-up: {SUBJECTS:,} subjects, {EVENTS:,} AEs in {path} "
            f"({time.perf_counter() - t0:.1f} s)"
        )
    books, dumps = [], []
    for _ in range(args.rounds):  # alternate, so both see the same machine load
        dumps.append(spawn("dump", path, keep / "bare_dump.xlsx"))
        books.append(spawn("workbook", path, keep / "dsmb_closed.xlsx"))
    book = min(books, key=lambda r: r["seconds"])
    dump = min(dumps, key=lambda r: r["seconds"])
    ratio = book["seconds"] / dump["seconds"]
    peak = max(r["peak_rss_mib"] for r in books)
    size = (keep / "dsmb_closed.xlsx").stat().st_size / 2**20
    print(f"workbook sheets (data rows): {book['rows']}")
    print(
        f"  workbook: {book['seconds']:.2f} s (runs {_fmt(books)}), peak RSS {peak:.0f} MiB, "
        f"{size:.1f} MiB file"
    )
    print(
        f"  bare dump of {dump['rows']:,} rows x 20 cells: {dump['seconds']:.2f} s "
        f"(runs {_fmt(dumps)}; {dump['with_fetch']:.2f} s with its sqlite3 fetch), "
        f"peak RSS {max(r['peak_rss_mib'] for r in dumps):.0f} MiB"
    )
    charts_peak = max(r["children_peak_rss_mib"] for r in books)
    print(
        f"  CPU (user+sys): workbook process {book['cpu_s']:.1f} s + chart process "
        f"{book['children_cpu_s']:.1f} s; bare dump {dump['cpu_s']:.1f} s "
        f"(the machine is shared: wall times vary with its load)"
    )
    print(
        f"  chart-drawing child process (pv.charts, runs alongside): peak RSS {charts_peak:.0f} MiB"
    )
    print(
        f"  ratio {ratio:.2f}x (target <= 1.2x: {'met' if ratio <= 1.2 else 'NOT met'}); "
        f"peak memory {peak:.0f} MiB (target <= 300 MiB: {'met' if peak <= 300 else 'NOT met'})"
    )
    tmp.cleanup()


def _fmt(results: list[dict]) -> str:  # type: ignore[type-arg]
    return ", ".join(f"{r['seconds']:.2f}" for r in results)


if __name__ == "__main__":
    main()
