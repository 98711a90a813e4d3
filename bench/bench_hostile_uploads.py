"""Hostile uploads against a running server (issue 12, point 1).

Builds each hostile file of tests/security/hostile_files.py (the shapes of the issue and
the classic set), sets up a fresh SQLite database as bench/bench_upload.py does (CTCAE,
the NCT04660565 study, subjects), starts the app with uvicorn on 127.0.0.1 (one worker;
the upload runs in the server's upload worker process), logs in as an investigator, posts
each file to POST /upload and follows its job (GET /upload/jobs/<id>, JSON) to the end.

Reported per file: the reply, the job's final status and message, the wall time from the
POST to the final status, and the growth of the server's process tree's resident memory
(the web process and its upload worker, summed, sampled every 10 ms; psutil when
installed, else /proc) over its size before the file. A first small upload starts the
upload worker before anything is measured. Asserted: every file refused or rejected with
a message, nothing stored. Targets: < 10 s and < 200 MB each.

Usage: .venv/bin/python bench/bench_hostile_uploads.py [--only LABEL ...]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_upload import setup  # noqa: E402
from served import start, stop, web_login  # noqa: E402

from tests.security import hostile_files as hf  # noqa: E402

PASSWORD = "bench-password-42"
FINAL = {"stored", "rejected", "refused", "cancelled", "failed"}
MB = 1024 * 1024
TIME_TARGET_S = 10.0
MEMORY_TARGET = 200 * MB


# Memory of the server's process tree ------------------------------------------------------


def _tree_rss_proc(pid: int) -> int:
    """The resident set size of a process and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def _tree_rss_psutil(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


try:
    import psutil  # noqa: F401

    tree_rss: Callable[[int], int] = _tree_rss_psutil
    RSS_SOURCE = "psutil"
except ImportError:
    tree_rss = _tree_rss_proc
    RSS_SOURCE = "/proc"


class PeakRss(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.base = self.peak = tree_rss(pid)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            time.sleep(0.01)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak, tree_rss(self.pid)) - self.base


# The client ------------------------------------------------------------------------------


def make_investigator(url: str) -> str:
    """An investigator of every site; returns one of their subjects taking both drugs."""
    from sqlmodel import select

    from pv.audit.service import Actor
    from pv.auth.service import create_user
    from pv.db import make_engine, write_session
    from pv.study.models import Site

    engine = make_engine(url)
    with write_session(engine) as s:
        sites = list(s.exec(select(Site)))
        create_user(session=s, actor=Actor.system("bench"), username="inv", role="investigator",
                    password=PASSWORD, sites=sites)  # fmt: skip
    engine.dispose()
    return "inv"


def upload(client: httpx.Client, csrf: str, study_id: str, name: str, data: bytes,
           timeout: float = 300) -> dict:  # fmt: skip
    """POST the file and follow its job to a final status; the old synchronous reply (no
    Location header) is read as the result itself."""
    r = client.post("/upload", data={"csrf_token": csrf, "study_id": study_id},
                    files={"file": (name, data, "application/octet-stream")})  # fmt: skip
    location = r.headers.get("location")
    if not location:
        text = re.sub(r"<[^>]+>", " ", r.text)
        return {"http": r.status_code, "status": "refused" if r.status_code >= 400 else "?",
                "stored": r.status_code == 201, "message": " ".join(text.split())[:200],
                "error_count": None}  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(location, headers={"Accept": "application/json"}).json()
        if state["status"] in FINAL or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    errors = state.get("errors") or []
    message = state.get("refused") or (errors[0]["reason"] if errors else "")
    return {"http": r.status_code, "status": state["status"], "stored": state.get("stored"),
            "message": message, "error_count": state.get("error_count"),
            "errors_shown": len(errors)}  # fmt: skip


def event_count(url: str) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from pv.db import make_engine, read_session
    from pv.events.models import AdverseEvent

    engine = make_engine(url)
    with read_session(engine) as s:
        n = s.exec(select(func.count()).select_from(AdverseEvent)).one()
    engine.dispose()
    return int(n)


def builders(info: dict) -> dict[str, Callable[[], hf.Built]]:
    combo = [u for u, drugs in info["subjects"] if len(drugs) > 1]
    codes = [code for _, code, _, _ in info["pool"]]
    return {
        "XFD sparse rows (80,000)": hf.xfd_sparse,
        "10 million tiny shared strings": hf.tiny_shared_strings,
        "4 million formulas without values": hf.formulas_without_values,
        "200,000 invalid rows": lambda: hf.invalid_rows(combo, codes),
        "200,000 rows, every cell wrong": lambda: hf.every_cell_wrong(combo[0]),
        "one row of 2 million cells": hf.wide_row,
        "entity bomb": hf.entity_bomb,
        "zip bomb (1 GiB)": hf.zip_bomb,
        "1,048,576 rows": hf.million_rows,
        "xlsm with macros": hf.macro_book,
        "csv renamed xlsx": hf.csv_renamed,
        "path-traversal names": hf.path_traversal,
        "empty": hf.empty,
        "junk": hf.junk,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--only", nargs="*", help="labels (substrings) of the files to post")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "hostile.sqlite"
        url = f"sqlite:///{db}"
        info = setup(db, args.subjects)
        user = make_investigator(url)
        files = {k: b for k, b in builders(info).items()
                 if not args.only or any(o.lower() in k.lower() for o in args.only)}  # fmt: skip
        proc, base = start(url, folder / "server.log")
        failures = []
        try:
            client, csrf = web_login(base, user, PASSWORD, "/upload")
            # Start the upload worker before measuring: a header-only workbook.
            warm = upload(client, csrf, info["study_id"], *hf.path_traversal())
            print(f"server pid {proc.pid}, memory from {RSS_SOURCE}; warm-up upload: "
                  f"{warm['status']}; tree RSS {tree_rss(proc.pid) / MB:.0f} MB")  # fmt: skip
            print(f"{'file':<36} {'size':>8} {'status':>9} {'wall':>7} {'+RSS':>8}  message")
            for label, build in files.items():
                name, data = build()
                before = event_count(url)
                sampler = PeakRss(proc.pid)
                sampler.start()
                t0 = time.perf_counter()
                out = upload(client, csrf, info["study_id"], name, data)
                wall = time.perf_counter() - t0
                extra = sampler.stop()
                stored = event_count(url) - before
                count = f" ({out['error_count']:,} errors)" if out.get("error_count") else ""
                print(f"{label:<36} {len(data) / MB:6.2f}MB {out['status']:>9} {wall:6.2f}s "
                      f"{extra / MB:6.0f}MB  {out['message'][:90]}{count}", flush=True)  # fmt: skip
                ok = (out["status"] in ("refused", "rejected") and bool(out["message"])
                      and stored == 0 and not out["stored"])  # fmt: skip
                if not ok:
                    failures.append(f"{label}: {out} (stored {stored})")
                if wall >= TIME_TARGET_S or extra >= MEMORY_TARGET:
                    failures.append(f"{label}: {wall:.1f} s, +{extra / MB:.0f} MB over target")
        finally:
            stop(proc)
        print("\nall refused or rejected, nothing stored, each < 10 s and < 200 MB: "
              + ("met" if not failures else "NOT met"))  # fmt: skip
        for f in failures:
            print("  " + f)
        if failures:
            sys.exit(1)


if __name__ == "__main__":
    main()
