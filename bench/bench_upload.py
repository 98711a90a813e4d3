"""Spreadsheet upload throughput: 100,000 adverse events for 1,000 subjects, on SQLite.

Sets up a SQLite file (CTCAE 5.0, the NCT04660565 study, 1,000 subjects over both arms,
belimumab infusions for the combination arm), generates a valid 100,000-row upload with
the template's columns (varied terms, grades, seriousness, partial dates, per-drug
causality; the rows that repeat an earlier row's subject, term and onset day, a few
hundred, say Y in CONFIRM_DUPLICATE) as an xlsx the way Excel saves it (shared strings),
an xlsx written by openpyxl (inline strings, the bulkiest form) and a CSV, then for each
file, in a fresh process and a fresh copy of the database, times `import_upload` end to
end (read, convert, every check, store with one audit entry per event) and its phases
separately, and reports rows/s and the peak memory of the process.

The floor: the very rows that run stored (events and audit entries, read back from its
database) inserted into a fresh copy of the same database with the sqlite3 module's
executemany, with the app's connection settings (WAL, synchronous=NORMAL, foreign keys
on), in one write transaction, committed: the same tables, indexes and constraints; the
tally's insert trigger dropped inside the transaction as the bulk path drops it (the
floor does not count the tally). The floor with the per-row trigger firing is shown too.
It is measured right after each file's end-to-end run, in the same run.

Targets (issue 12, point 6): CSV >= 40,000 rows/s and xlsx >= 30,000 rows/s end to end,
each within 2.5x of the floor. Usage:
    .venv/bin/python bench/bench_upload.py [--rows 100000] [--subjects 1000]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlmodel import select

TERMS = [  # (CTCAE term, weight)
    ("Headache", 8), ("Nausea", 6), ("Fatigue", 6), ("Upper respiratory infection", 8),
    ("Urinary tract infection", 4), ("Hyperglycemia", 6), ("Insomnia", 5),
    ("Hypertension", 5), ("Weight gain", 4), ("Cushingoid", 3), ("Osteoporosis", 2),
    ("Infusion related reaction", 3), ("Anaphylaxis", 1), ("Allergic reaction", 2),
    ("Herpes simplex reactivation", 2), ("Lung infection", 2), ("Diarrhea", 4),
    ("Rash maculo-papular", 3),
    ("Dyspepsia", 3), ("Edema limbs", 2), ("Anxiety", 2), ("Cataract", 1),
]  # fmt: skip
VERBATIM = ["mild {t}", "{t} reported at visit", "{t}, intermittent", "patient complains of {t}",
            "{t} since last visit", "worsening {t}", "{t} (see notes)"]  # fmt: skip


def setup(db: Path, n_subjects: int) -> dict:
    from pv.audit.service import Actor
    from pv.db import make_engine, write_session
    from pv.exposure.service import add_exposure
    from pv.migrate import upgrade
    from pv.study.ctgov import parse_ctgov
    from pv.study.models import Arm, ArmDrug, Drug, Site
    from pv.study.service import add_subject, import_ctgov
    from pv.terminology.ctcae import load_ctcae
    from pv.terminology.models import Term

    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    load_ctcae(engine)
    record = json.loads((Path(__file__).parents[1] / "pv/demo/NCT04660565.json").read_text())
    actor = Actor.system("bench")
    subjects = []
    with write_session(engine) as s:
        study, _ = import_ctgov(session=s, actor=actor, spec=parse_ctgov(record))
        site = s.exec(select(Site).where(Site.study_id == study.id)).one()
        arms = s.exec(select(Arm).where(Arm.study_id == study.id).order_by(Arm.position)).all()
        drugs = {d.key: d for d in s.exec(select(Drug).where(Drug.study_id == study.id))}
        by_id = {d.id: d.key for d in drugs.values()}
        arm_drugs: dict[int, list[str]] = {a.id: [] for a in arms}
        for link in s.exec(select(ArmDrug).where(ArmDrug.arm_id.in_(list(arm_drugs)))):
            arm_drugs[link.arm_id].append(by_id[link.drug_id])
        for i in range(n_subjects):
            arm = arms[i % len(arms)]
            subj = add_subject(session=s, actor=actor, study_id=study.id, site=site,
                               subjid=f"{i + 1:04d}", arm=arm, weight_kg=60.0,
                               consent_date=date(2020, 12, 1))  # fmt: skip
            subjects.append((subj.usubjid, arm_drugs[arm.id]))
            if "belimumab" in arm_drugs[arm.id]:
                for week in (0, 2, 4, 8):
                    start = datetime(2021, 1, 4, 9, 0) + timedelta(weeks=week)
                    add_exposure(session=s, actor=actor, subject=subj, drug=drugs["belimumab"],
                                 dose=10, unit="mg/kg", start=start,
                                 end=start + timedelta(hours=1))  # fmt: skip
        terms = {t.term: t for t in s.exec(select(Term))}
        pool = [(terms[name], w) for name, w in TERMS]
        study_id = study.id
        drug_keys = sorted(drugs)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return {"study_id": study_id, "subjects": subjects, "drug_keys": drug_keys,
            "pool": [(t.term, t.code, t.allowed_grades, w) for t, w in pool]}  # fmt: skip


def generate(info: dict, n_rows: int, seed: int = 7) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    keys = [k.upper() for k in info["drug_keys"]]
    header = ["USUBJID", "AETERM", "AELLTCD", "AEDECOD", "AETOXGR", "AESER", "AESDTH",
              "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE", "AESTDTC", "AEENDTC",
              "AEAWAREDTC", "AEONGO", "AEOUT", *(f"AEREL_{k}" for k in keys),
              *(f"AEACN_{k}" for k in keys),
              "AECONTRT", "NARRATIVE", "CONFIRM_DUPLICATE"]  # fmt: skip
    pool = info["pool"]
    weights = [w for *_, w in pool]
    rows = []
    seen: set[tuple[str, str, str]] = set()  # (subject, code, onset day): likely duplicates
    for i in range(n_rows):
        usubjid, arm_drugs = info["subjects"][i % len(info["subjects"])]
        name, code, grades, _ = rng.choices(pool, weights)[0]
        grade = rng.choice([g for g in grades if g < 5])
        serious = grade >= 3 and rng.random() < 0.5
        onset = date(2021, 1, 1) + timedelta(days=rng.randrange(700))
        partial = rng.random() < 0.1
        ongoing = rng.random() < 0.15
        end = onset + timedelta(days=rng.randrange(1, 30))
        outcome = (
            "NOT RECOVERED/NOT RESOLVED"
            if ongoing
            else rng.choice(["RECOVERED/RESOLVED", "RECOVERED/RESOLVED", "RECOVERING/RESOLVING"])
        )
        end_text = "" if ongoing or outcome == "RECOVERING/RESOLVING" else end.isoformat()
        onset_text = onset.isoformat()[:7] if partial else onset.isoformat()
        if partial and end_text:
            end_text = end_text[:7] if end_text[:7] > onset_text else ""
        rel = {k: (rng.choice(["NOT RELATED", "UNLIKELY RELATED", "POSSIBLY RELATED",
                               "RELATED"]) if k.lower() in arm_drugs else "")
               for k in keys}  # fmt: skip
        acn = {k: ("DOSE NOT CHANGED" if k.lower() in arm_drugs else "") for k in keys}
        use_code = rng.random() < 0.5
        key = (usubjid, code, onset_text)
        repeated = key in seen
        seen.add(key)
        rows.append([
            usubjid, rng.choice(VERBATIM).format(t=name.lower()), code if use_code else "",
            name if not use_code or rng.random() < 0.5 else "", str(grade),
            "Y" if serious else "N", "N", "N", "Y" if serious else "N", "N", "N", "N",
            # a serious event needs the site's awareness date (issue 15): the day after onset
            onset_text, end_text, (onset + timedelta(days=1)).isoformat() if serious else "",
            "Y" if ongoing else "N", outcome,
            *(rel[k] for k in keys), *(acn[k] for k in keys),
            rng.choice(["", "paracetamol", "none", "antihistamine"]),
            f"Hospitalised for {name.lower()} on day {i % 300}; treated and observed."
            if serious else "", "Y" if repeated else "",
        ])  # fmt: skip
    return header, rows


def write_excel_style(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """The workbook as Excel saves it: text as shared strings (openpyxl writes inline
    strings), cells styled as text, a dimension; minimal parts otherwise."""
    from xml.sax.saxutils import escape

    from openpyxl.utils import get_column_letter

    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    index: dict[str, int] = {}
    letters = [get_column_letter(i + 1) for i in range(len(header))]
    parts = [
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {ns}>'
        f'<dimension ref="A1:{letters[-1]}{len(rows) + 1}"/><sheetData>'
    ]
    for r, row in enumerate([header, *rows], start=1):
        cells = "".join(f'<c r="{letters[c]}{r}" s="1" t="s"><v>{index.setdefault(v, len(index))}'
                        "</v></c>" for c, v in enumerate(row) if v)  # fmt: skip
        parts.append(f'<row r="{r}" spans="1:{len(header)}">{cells}</row>')
    parts.append("</sheetData></worksheet>")
    sst = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst {ns} '
           f'uniqueCount="{len(index)}">' + "".join(f"<si><t>{escape(t)}</t></si>" for t in index)
           + "</sst>")  # fmt: skip
    files = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{pkg}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{pkg}.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{pkg}.sharedStrings+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{pkg}.styles+xml"/></Types>',
        "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook {ns} xmlns:r="{rel}"><sheets><sheet name="AE" sheetId="1" '
        'r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
        f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/sharedStrings" '
        f'Target="sharedStrings.xml"/><Relationship Id="rId3" Type="{rel}/styles" '
        'Target="styles.xml"/></Relationships>',
        "xl/styles.xml": f'<styleSheet {ns}><cellXfs count="2"><xf numFmtId="0"/>'
        '<xf numFmtId="49" applyNumberFormat="1"/></cellXfs></styleSheet>',
        "xl/sharedStrings.xml": sst,
        "xl/worksheets/sheet1.xml": "".join(parts),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)


def write_files(folder: Path, header: list[str], rows: list[list[str]]) -> dict[str, Path]:
    from openpyxl import Workbook

    excel = folder / "upload-excel.xlsx"
    write_excel_style(excel, header, rows)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("AE")
    ws.append(header)
    for r in rows:
        ws.append([v if v != "" else None for v in r])
    xlsx = folder / "upload-openpyxl.xlsx"
    wb.save(xlsx)
    csv_path = folder / "upload.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return {"xlsx (Excel-style, shared strings)": excel,
            "xlsx (openpyxl, inline strings)": xlsx, "csv": csv_path}  # fmt: skip


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_one(db: str, path: str, study_id: str, mode: str) -> dict:
    """In a fresh process: time import_upload (mode "e2e") or its phases (mode "phases")."""
    from pv.audit.service import Actor
    from pv.db import make_engine, read_session, write_session
    from pv.events.bulk import BulkContext, insert_events, prepare_events
    from pv.imports.spreadsheet import import_upload, parse_upload, validate_rows
    from pv.settings import get_settings

    engine = make_engine(f"sqlite:///{db}")
    data = Path(path).read_bytes()
    actor = Actor.system("bench")
    with read_session(engine) as s:  # warm the connection pool and the AESI catalogue
        BulkContext.load(s, study_id)
    base = _rss_mb()
    out: dict = {"bytes": len(data)}
    w0, c0 = time.perf_counter(), time.process_time()
    if mode == "e2e":
        result = import_upload(engine=engine, actor=actor, study_id=study_id, site_ids=None,
                               filename=Path(path).name, data=data)  # fmt: skip
        assert result.ok, (result.refused, result.errors[:5])
        out["stored"] = result.stored
    else:
        # As import_upload: read; convert and check in a read session; store (and re-check
        # duplicates) in the write transaction.
        gc.disable()  # as import_upload does (pv.events.bulk.gc_paused)
        parsed = parse_upload(Path(path).name, data, settings=get_settings())
        w1, c1 = time.perf_counter(), time.process_time()
        with read_session(engine) as s:
            ctx = BulkContext.load(s, study_id)
            conv = validate_rows(parsed, ctx)
            assert not conv.errors, conv.errors[:5]
            w2, c2 = time.perf_counter(), time.process_time()
            prepared, errors, _ = prepare_events(ctx, conv.rows, submit=True)
            assert not errors, errors[:5]
        w3, c3 = time.perf_counter(), time.process_time()
        with write_session(engine) as s:
            ids = insert_events(session=s, actor=actor, prepared=prepared, submit=True)
            w4, c4 = time.perf_counter(), time.process_time()
        out["stored"] = len(ids)
        out["phases"] = {
            "read": (w1 - w0, c1 - c0),
            "convert": (w2 - w1, c2 - c1),
            "check": (w3 - w2, c3 - c2),
            "store": (w4 - w3, c4 - c3),
            "commit": (time.perf_counter() - w4, time.process_time() - c4),
        }
    out["wall"], out["cpu"] = time.perf_counter() - w0, time.process_time() - c0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["base_mb"] = base
    engine.dispose()
    return out


def floor(source: str, template: str, target: str, trigger: str) -> dict:
    """In a fresh process: the events and audit entries stored in `source` (read first, not
    timed) inserted into `target`, a fresh copy of `template`, by sqlite3 executemany with
    the app's connection settings, one write transaction, committed. `trigger` "drop": the
    tally's insert trigger dropped inside the transaction (as the bulk path does; the
    tally is not counted); "fire": it fires per row, as for any plain insert."""
    import sqlite3

    from pv.db import SQLITE_BUSY_TIMEOUT_MS

    src = sqlite3.connect(source)
    ev_cols = [r[1] for r in src.execute("PRAGMA table_info(adverseevent)") if r[1] != "id"]
    au_cols = [r[1] for r in src.execute("PRAGMA table_info(audit_log)") if r[1] != "id"]
    events = src.execute(f"SELECT {', '.join(ev_cols)} FROM adverseevent ORDER BY id").fetchall()
    audit = src.execute(f"SELECT {', '.join(au_cols)} FROM audit_log WHERE entity_type = "
                        "'adverse_event' ORDER BY id").fetchall()  # fmt: skip
    src.close()
    shutil.copyfile(template, target)
    conn = sqlite3.connect(target, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    ):  # as pv.db sets them
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("SELECT count(*) FROM subject").fetchone()  # warm the schema

    def insert(table: str, cols: list[str]) -> str:
        return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    gc.disable()
    w0, c0 = time.perf_counter(), time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    if trigger == "drop":
        conn.execute("DROP TRIGGER queue_tally_ae_insert")
    conn.executemany(insert("adverseevent", ev_cols), events)
    conn.executemany(insert("audit_log", au_cols), audit)
    conn.execute("COMMIT")
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    conn.close()
    return {"wall": wall, "cpu": cpu, "events": len(events), "audit": len(audit)}


TARGETS = {"csv": 40_000, "xlsx": 30_000}  # rows/s end to end (issue 12, point 6)
WITHIN = 2.5  # times the floor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--subjects", type=int, default=1_000)
    ap.add_argument(
        "--run", nargs=4, metavar=("DB", "FILE", "STUDY", "MODE"), help=argparse.SUPPRESS
    )
    ap.add_argument("--floor", nargs=4, metavar=("SOURCE", "TEMPLATE", "TARGET", "TRIGGER"),
                    help=argparse.SUPPRESS)  # fmt: skip
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_one(*args.run)))
        return
    if args.floor:
        print(json.dumps(floor(*args.floor)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        info = setup(folder / "template.sqlite", args.subjects)
        header, rows = generate(info, args.rows)
        files = write_files(folder, header, rows)
        print(f"setup: {args.subjects:,} subjects, {args.rows:,} rows generated in "
              f"{time.perf_counter() - t:.0f} s")  # fmt: skip
        for kind, path in files.items():
            print(f"{kind}: {path.stat().st_size / 2**20:.1f} MB")
        template = folder / "template.sqlite"

        def sub(*argv: str) -> dict:
            proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True,
                                  text=True, check=False)  # fmt: skip
            if proc.returncode:
                sys.exit(proc.stderr)
            return json.loads(proc.stdout.strip().splitlines()[-1])

        n = args.rows
        # kind -> (wall, CPU) seconds of: end to end, the store phase, the floor
        summary: dict[str, tuple[tuple[float, float], ...]] = {}
        last = None
        for k, (kind, path) in enumerate(files.items()):
            runs = {}
            for mode in ("phases", "e2e"):
                db = folder / f"run-{k}-{mode}.sqlite"
                shutil.copyfile(template, db)
                r = sub("--run", str(db), str(path), info["study_id"], mode)
                assert r["stored"] == n
                runs[mode] = r
                print(
                    f"\n{kind} {mode}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU -> "
                    f"{n / r['wall']:,.0f} rows/s (CPU-bound rate {n / r['cpu']:,.0f} rows/s)"
                )
                for name, (w, c) in r.get("phases", {}).items():
                    print(f"  {name:<12} {w:6.2f} s wall {c:6.2f} s CPU")
                print(
                    f"  memory: {r['base_mb']:.0f} MB before, peak {r['peak_mb']:.0f} MB "
                    f"(+{r['peak_mb'] - r['base_mb']:.0f} MB)"
                )
                if mode == "phases":
                    db.unlink()
            # The floor: the rows the end-to-end run stored, inserted again right after it.
            source = folder / f"run-{k}-e2e.sqlite"
            target = folder / f"floor-{k}.sqlite"
            fl = sub("--floor", str(source), str(template), str(target), "drop")
            assert fl["events"] == fl["audit"] == n
            target.unlink()
            if last is not None:
                last.unlink()
            last = source
            ph = runs["phases"]["phases"]
            store = (ph["store"][0] + ph["commit"][0], ph["store"][1] + ph["commit"][1])
            e2e = (runs["e2e"]["wall"], runs["e2e"]["cpu"])
            floor_ = (fl["wall"], fl["cpu"])
            summary[kind] = (e2e, store, floor_)
            print(f"  floor: {fl['wall']:.2f} s wall, {fl['cpu']:.2f} s CPU "
                  f"({n / fl['wall']:,.0f} rows/s); end to end {e2e[0] / fl['wall']:.2f}x the "
                  f"floor ({e2e[1] / fl['cpu']:.2f}x in CPU time); store phase (insert + "
                  f"commit, {store[0]:.2f} s) {store[0] / fl['wall']:.2f}x "
                  f"({store[1] / fl['cpu']:.2f}x in CPU time)")  # fmt: skip
        assert last is not None
        fire = sub("--floor", str(last), str(template), str(folder / "floor-fire.sqlite"), "fire")
        print(f"\nfloor with the per-row tally trigger firing (any plain insert): "
              f"{fire['wall']:.2f} s ({n / fire['wall']:,.0f} rows/s)")  # fmt: skip

        print("\nwall clock (CPU time in brackets: the machine may be shared)")
        print(f"{'file':<36} {'end to end':>20} {'target':>7} {'x floor':>15} "
              f"{'store phase':>20}")  # fmt: skip
        met = True
        for kind, (e2e, store, fl) in summary.items():
            target_rate = TARGETS["csv" if kind == "csv" else "xlsx"]
            rate, ratio = n / e2e[0], e2e[0] / fl[0]
            ok = rate >= target_rate and ratio <= WITHIN
            met = met and ok
            print(f"{kind:<36} {rate:>7,.0f} ({n / e2e[1]:>6,.0f}) r/s {target_rate:>7,} "
                  f"{ratio:>5.2f}x ({e2e[1] / fl[1]:.2f}x) {n / store[0]:>7,.0f} "
                  f"({n / store[1]:>6,.0f}) r/s  {'met' if ok else 'NOT met'}")  # fmt: skip
        print(f"\ntargets (CSV >= {TARGETS['csv']:,} rows/s, xlsx >= {TARGETS['xlsx']:,} rows/s, "
              f"each within {WITHIN}x of the floor): {'met' if met else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
