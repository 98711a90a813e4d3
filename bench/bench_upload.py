"""Spreadsheet upload throughput: 100,000 adverse events for 1,000 subjects, on SQLite.

Sets up a SQLite file (CTCAE 5.0, the NCT04660565 study, 1,000 subjects over both arms,
belimumab infusions for the combination arm), generates a valid 100,000-row upload with
the template's columns (varied terms, grades, seriousness, partial dates, per-drug
causality) as an xlsx written by openpyxl (inline strings, the bulkiest form) and as a
CSV, then for each file, in a fresh process and a fresh copy of the database, times
`import_upload` end to end (read, convert and check, store: one write transaction)
and its phases separately, and reports rows/s and the peak memory of the process.

Target (issue 3): >= 10,000 rows/s validated and stored. Usage:
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
              "AEONGO", "AEOUT", *(f"AEREL_{k}" for k in keys), *(f"AEACN_{k}" for k in keys),
              "AECONTRT", "NARRATIVE"]  # fmt: skip
    pool = info["pool"]
    weights = [w for *_, w in pool]
    rows = []
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
        rows.append([
            usubjid, rng.choice(VERBATIM).format(t=name.lower()), code if use_code else "",
            name if not use_code or rng.random() < 0.5 else "", str(grade),
            "Y" if serious else "N", "N", "N", "Y" if serious else "N", "N", "N", "N",
            onset_text, end_text, "Y" if ongoing else "N", outcome,
            *(rel[k] for k in keys), *(acn[k] for k in keys),
            rng.choice(["", "paracetamol", "none", "antihistamine"]),
            f"Hospitalised for {name.lower()} on day {i % 300}; treated and observed."
            if serious else "",
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
    from pv.events.bulk import BulkContext, create_events_bulk
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
        gc.disable()  # as import_upload does (pv.events.bulk.gc_paused)
        parsed = parse_upload(Path(path).name, data, settings=get_settings())
        w1, c1 = time.perf_counter(), time.process_time()
        with read_session(engine) as s:
            conv = validate_rows(parsed, BulkContext.load(s, study_id))
        assert not conv.errors, conv.errors[:5]
        w2, c2 = time.perf_counter(), time.process_time()
        with write_session(engine) as s:
            ids = create_events_bulk(session=s, actor=actor, study_id=study_id,
                                     rows=conv.rows, submit=True)  # fmt: skip
            w3, c3 = time.perf_counter(), time.process_time()
        out["stored"] = len(ids)
        out["phases"] = {
            "read": (w1 - w0, c1 - c0),
            "convert": (w2 - w1, c2 - c1),
            "check+store": (w3 - w2, c3 - c2),
            "commit": (time.perf_counter() - w3, time.process_time() - c3),
        }
    out["wall"], out["cpu"] = time.perf_counter() - w0, time.process_time() - c0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["base_mb"] = base
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--subjects", type=int, default=1_000)
    ap.add_argument(
        "--run", nargs=4, metavar=("DB", "FILE", "STUDY", "MODE"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_one(*args.run)))
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
        figures = {}
        for kind, path in files.items():
            for mode in ("phases", "e2e"):
                db = folder / f"run-{len(figures)}.sqlite"
                shutil.copyfile(folder / "template.sqlite", db)
                proc = subprocess.run([sys.executable, __file__, "--run", str(db), str(path),
                                       info["study_id"], mode],
                                      capture_output=True, text=True, check=False)  # fmt: skip
                if proc.returncode:
                    sys.exit(proc.stderr)
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                assert r["stored"] == args.rows
                rate = args.rows / r["wall"]
                figures[(kind, mode)] = rate
                print(
                    f"\n{kind} {mode}: {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU -> "
                    f"{rate:,.0f} rows/s (CPU-bound rate {args.rows / r['cpu']:,.0f} rows/s)"
                )
                for name, (w, c) in r.get("phases", {}).items():
                    print(f"  {name:<12} {w:6.2f} s wall {c:6.2f} s CPU")
                if "phases" in r:
                    ph = r["phases"]
                    w = sum(ph[k][0] for k in ("convert", "check+store", "commit"))
                    c = sum(ph[k][1] for k in ("convert", "check+store", "commit"))
                    print(f"  validated and stored once read: {args.rows / w:,.0f} rows/s wall, "
                          f"{args.rows / c:,.0f} rows/s CPU")  # fmt: skip
                print(
                    f"  memory: {r['base_mb']:.0f} MB before, peak {r['peak_mb']:.0f} MB "
                    f"(+{r['peak_mb'] - r['base_mb']:.0f} MB)"
                )
        best = min(figures[(k, "e2e")] for k in files)
        print(
            f"\ntarget >= 10,000 rows/s end to end: {'met' if best >= 10_000 else 'NOT met'} "
            f"(slowest file {best:,.0f} rows/s)"
        )


if __name__ == "__main__":
    main()
