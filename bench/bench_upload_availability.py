"""Other users during a large upload (issue 12, point 2): one uvicorn worker, a valid
100,000-row upload (CSV, then xlsx) running as a job in the server's upload worker
process, and meanwhile:

- readers: an officer's review queue page and event list (web session), and the event
  list of the JSON API (token), one request after another in three threads;
- a writer: an investigator's API submission of one event every 0.25 s.

Reported per file: the job's phases as the poll saw them, the readers' latency during the
job (p50, p95, max; target p95 < 300 ms), the writer's slowest wait against the store
phase (target: at most the store phase), and the events stored (must be every row).

Usage: .venv/bin/python bench/bench_upload_availability.py [--rows 100000] [--subjects 1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_upload import generate, setup, write_files  # noqa: E402
from served import start, stop, web_login  # noqa: E402

PASSWORD = "bench-password-42"
FINAL = {"stored", "rejected", "refused", "cancelled", "failed"}


def users(url: str) -> dict[str, str]:
    """An uploader (admin: every site), an officer and an API investigator; their tokens."""
    from sqlmodel import select

    from pv.audit.service import Actor
    from pv.auth.service import create_user, issue_token
    from pv.db import make_engine, write_session
    from pv.study.models import Site

    engine = make_engine(url)
    tokens = {}
    with write_session(engine) as s:
        sites = list(s.exec(select(Site)))
        for name, role in (
            ("uploader", "admin"),
            ("reader", "officer"),
            ("writer", "investigator"),
        ):
            user = create_user(session=s, actor=Actor.system("bench"), username=name, role=role,
                               password=PASSWORD,
                               sites=sites if role == "investigator" else None)  # fmt: skip
            tokens[name] = issue_token(session=s, actor=Actor.system("bench"), user=user)
    with engine.connect() as conn:  # the file is copied next: nothing may wait in the WAL
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return tokens


class Load:
    """Readers and a writer running until stopped; (start, latency) of each request."""

    def __init__(self, base: str, tokens: dict[str, str], usubjid: str, drugs: list[str]):
        self.base, self.tokens, self.usubjid, self.drugs = base, tokens, usubjid, drugs
        self.stop = threading.Event()
        self.reads: list[tuple[float, float, str]] = []
        self.writes: list[tuple[float, float, int]] = []
        self.errors: list[str] = []
        self.threads: list[threading.Thread] = []
        self.day = 0

    def start(self) -> None:
        reader, _ = web_login(self.base, "reader", PASSWORD, timeout=120)
        bearer = {"Authorization": f"Bearer {self.tokens['reader']}"}
        api = httpx.Client(base_url=self.base, timeout=120, headers=bearer)
        for name, client, path in (("queue page", reader, "/review"),
                                   ("event list page", reader, "/events"),
                                   ("API event list", api, "/api/v1/events?limit=50")):  # fmt: skip
            t = threading.Thread(target=self._read, args=(name, client, path), daemon=True)
            self.threads.append(t)
        self.threads.append(threading.Thread(target=self._write, daemon=True))
        for t in self.threads:
            t.start()

    def _read(self, name: str, client: httpx.Client, path: str) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            r = client.get(path)
            self.reads.append((t0, time.monotonic() - t0, name))
            if r.status_code != 200:
                self.errors.append(f"{name}: {r.status_code}")

    def _write(self) -> None:
        bearer = {"Authorization": f"Bearer {self.tokens['writer']}"}
        api = httpx.Client(base_url=self.base, timeout=120, headers=bearer)
        while not self.stop.is_set():
            self.day += 1
            onset = (date(2021, 1, 1) + timedelta(days=self.day % 1500)).isoformat()
            body = {"usubjid": self.usubjid, "aeterm": "headache after visit",
                    "aelltcd": "10019211", "aetoxgr": 1, "aeser": "N",
                    "aestdtc": f"{onset}T{self.day // 1500 % 24:02d}:{self.day % 60:02d}",
                    "aeout": "RECOVERING/RESOLVING", "aeongo": "N",
                    "aerel": {d: "NOT RELATED" for d in self.drugs},
                    "aeacn": {d: "DOSE NOT CHANGED" for d in self.drugs},
                    "confirm_duplicate": True}  # fmt: skip
            t0 = time.monotonic()
            r = api.post("/api/v1/events", json=body)
            if r.status_code == 422 and "confirm_duplicate" in r.text:
                body.pop("confirm_duplicate")  # a server without the duplicate rule
                r = api.post("/api/v1/events", json=body)
            self.writes.append((t0, time.monotonic() - t0, r.status_code))
            if r.status_code != 201:
                self.errors.append(f"writer: {r.status_code} {r.text[:200]}")
            time.sleep(0.25)

    def halt(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=180)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def run_file(base: str, tokens: dict[str, str], info: dict, path: Path) -> dict:
    client, csrf = web_login(base, "uploader", PASSWORD, "/upload", timeout=120)
    sample = info["subjects"][0]
    load = Load(base, tokens, sample[0], sample[1])
    load.start()
    time.sleep(2.0)  # the readers' pace without an upload
    t_post = time.monotonic()
    with path.open("rb") as fh:
        r = client.post("/upload", data={"csrf_token": csrf, "study_id": info["study_id"]},
                        files={"file": (path.name, fh, "application/octet-stream")},
                        headers={"HX-Request": "true"})  # fmt: skip
    assert r.status_code == 202, (r.status_code, r.text[:300])
    location = r.headers["location"]
    phases: dict[str, float] = {"posted": time.monotonic() - t_post}
    state: dict = {}
    while True:
        state = client.get(location, headers={"Accept": "application/json"}).json()
        phases.setdefault(state["status"], time.monotonic() - t_post)
        if state["status"] in FINAL:
            break
        time.sleep(0.1)
    t_end = time.monotonic()
    time.sleep(1.0)
    load.halt()
    before = [lat for t0, lat, _ in load.reads if t0 < t_post]
    during = [lat for t0, lat, _ in load.reads if t_post <= t0 < t_end]
    store_start = t_post + phases.get("storing", phases.get("stored", 0))
    writes = [lat for t0, lat, _ in load.writes if t_post <= t0 < t_end]
    return {"file": path.name, "state": state, "phases": phases,
            "elapsed": t_end - t_post, "reads_before": before, "reads_during": during,
            "by_name": {n: [lat for t0, lat, m in load.reads if m == n and t_post <= t0 < t_end]
                        for n in ("queue page", "event list page", "API event list")},
            "writes": writes, "store_phase": t_end - store_start,
            "errors": load.errors}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--subjects", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pv-avail-"))
    db = tmp / "avail.sqlite"
    print(f"setting up {db} ({args.subjects} subjects) and a {args.rows:,}-row upload ...")
    info = setup(db, args.subjects)
    header, rows = generate(info, args.rows)
    files = write_files(tmp, header, rows)
    tokens = users(f"sqlite:///{db}")
    ok = True
    for label in ("csv", "xlsx (openpyxl, inline strings)"):
        # Each file on a fresh copy of the database (the second would repeat the first's
        # events: likely duplicates, refused).
        copy = tmp / f"run-{label.split()[0]}.sqlite"
        shutil.copyfile(db, copy)
        proc, base = start(f"sqlite:///{copy}", tmp / "server.log")
        try:
            res = run_file(base, tokens, info, files[label])
        finally:
            stop(proc)
        ok &= report(label, res, args.rows)
    print("\nverdict:", "all targets met" if ok else "a target was missed")


def report(label: str, res: dict, rows: int) -> bool:
    p = res["phases"]
    print(f"\n== {label}: {res['file']} — job {res['state']['status']}, "
          f"{res['state']['stored']:,} stored in {res['elapsed']:.1f} s")  # fmt: skip
    print("   phases first seen at (s after the POST): "
          + ", ".join(f"{k} {v:.2f}" for k, v in p.items()))  # fmt: skip
    b, d = res["reads_before"], res["reads_during"]
    print(f"   reads before the upload: n={len(b)}, p50 {1000 * pct(b, 50):.0f} ms, "
          f"p95 {1000 * pct(b, 95):.0f} ms")  # fmt: skip
    print(f"   reads during the upload: n={len(d)}, p50 {1000 * pct(d, 50):.0f} ms, "
          f"p95 {1000 * pct(d, 95):.0f} ms, max {1000 * max(d, default=0):.0f} ms "
          "(target p95 < 300 ms)")  # fmt: skip
    for name, lats in res["by_name"].items():
        print(f"     {name}: n={len(lats)}, p95 {1000 * pct(lats, 95):.0f} ms")
    w = res["writes"]
    print(f"   writer during the upload: n={len(w)}, max {1000 * max(w, default=0):.0f} "
          f"ms, median {1000 * statistics.median(w) if w else 0:.0f} ms; store phase "
          f"{1000 * res['store_phase']:.0f} ms (target: max <= store phase)")  # fmt: skip
    if res["state"]["status"] != "stored":
        print(f"   the job's first problems: {res['state']['errors'][:3]}")
    if res["errors"]:
        print(f"   errors: {res['errors'][:5]}")
    stored = res["state"]["status"] == "stored" and res["state"]["stored"] == rows
    return stored and pct(d, 95) < 0.3 and max(w, default=0) <= res["store_phase"] + 0.3


if __name__ == "__main__":
    main()
