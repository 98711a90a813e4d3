"""The review queue at 1,000,000 events: the real app against a bare page (issue 5, item 7).

    .venv/bin/python bench/bench_queue.py [--db FILE] [--pg URL] [--clients 10] [--rounds 3]
                                          [--driver wrk|python] [--seconds 15]
                                          [--requests 3000] [--time-limit 120]
                                          [--bare-on-loop] [--workers-compare] [--query]

Set-up (not timed, bench_queue_data.py): a SQLite file at the current schema with
1,000,000 adverse events in every workflow status and the review rows a page decorates;
the queue_tally triggers stay in place (checked). With `--db` the file is kept and reused.
With `--pg` the same rows are copied into that PostgreSQL database (pg_copy.py) and both
servers run on it.

Timed, in the same run: two servers under uvicorn on 127.0.0.1, one worker each, no
access log: the real app (`pv.web.asgi:app`, an officer logged in) serving GET /review,
and a bare page (`--serve-bare`, below: FastAPI + SQLModel + Jinja, no auth, no counts,
no decorations; the 50 newest events by primary key matching the same filters), written
the usual way: a plain path function run in FastAPI's thread pool. The queue route runs
on the event loop on SQLite (its reads take about a millisecond); `--bare-on-loop` serves
the bare page that way too, for comparison.

The load: `--clients` keep-alive connections in a closed loop, cycling through the
requests (unfiltered; serious, grade >= 3, status, site, AESI and combinations; two
second pages: the queue's filtered requests carry HX-Request, as the page's htmx filters
do). The driver is wrk (the Debian package, one thread, `--seconds` a round) when it is
installed, else Python threads (`--requests` a round, at most `--time-limit` seconds).
Rounds alternate bare, queue, bare, queue, ...; each reports requests/s, p50/p95 latency
and the server's CPU time per request; the verdict uses the median round of each.
Targets: queue p95 <= 60 ms at 10 clients, queue req/s >= 0.9 x the bare page's. Both
servers are stopped by PID at the end.

`--workers-compare` (issue 17, point 3): instead, four servers started as
`pvtracker serve --workers N` starts one (pv.web.cli.run_server: uvicorn, the import string
pv.web.asgi:app, access log off; with 2 workers its supervisor, pv.web.cli.serve_workers,
each worker on its own SO_REUSEPORT socket): the queue with 1 and with 2 workers, and the
bare page with 1 and with 2 served the same way (its floor: what the machine gives a second
worker in the same run). Rounds alternate the four (the order reversed every other round);
each line adds the client's own CPU per request (wrk's, or this process's threads') and the
established connections each worker holds mid-round (keep-alive connections stay where they
were accepted). The verdict: req/s, p50 and p95
as min / median / max over the rounds, the 2-worker / 1-worker ratio per round (target
>= 1.6 x) and the 2-worker p95 (target <= 50 ms), each beside the bare page's.
`--query` runs bench_queue_query.py (the queue's SQL per filter, no server) instead.

The queue's requests carry no `sort`: they measure its default order, most urgent first
(issue 15; pv/review/queue.py). In the bench data 100 events have an overdue report and
about 24,000 serious events await assessment (tier 1, whose sort keys no index holds and
which the queue keeps 60 s per filter), a backlog far beyond a live trial's. The server
CPU per request is the steadier figure on a shared machine: compare it with the bare
page's in the same run.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench_queue_data import EVENTS, STUDY, build, check_tally
from pg_copy import add_pg_option, bench_database
from served import free_port, launch, stop

from pv.web.cli import reuseport_balances, serve_workers

PASSWORD = "queue reviewer lantern"
HOST = "127.0.0.1"
FILTERS = [
    {},
    {"serious": "Y"},
    {"grade3": "1"},
    {"status": "submitted"},
    {"status": "under_review"},
    {"site": "7"},
    {"site": "23", "serious": "Y"},
    {"aesi": "infection"},
    {"aesi": "infection", "serious": "Y"},
    {"grade3": "1", "serious": "Y"},
    {"status": "assessed", "site": "3"},
    {"serious": "N", "aesi": "gc_toxicity"},
]


# --- the bare page: FastAPI + SQLModel + Jinja, 50 rows, the same filters -----------------

BARE_PAGE = """<!doctype html><html lang="en"><head><title>Events</title></head><body>
<table><thead><tr><th>Subject</th><th>Site</th><th>Event</th><th>Grade</th><th>Serious</th>
<th>Status</th><th>Changed</th></tr></thead><tbody>
{% for ev, usubjid in rows %}<tr><td>{{ usubjid }}</td><td>{{ ev.site_id }}</td>
<td><a href="/events/{{ ev.id }}">{{ ev.aedecod or ev.aeterm }}</a></td><td>{{ ev.aetoxgr }}</td>
<td>{{ 'yes' if ev.aeser else 'no' }}</td><td>{{ ev.status }}</td><td>{{ ev.updated_at }}</td></tr>
{% endfor %}</tbody></table></body></html>"""


def bare_app(url: str, on_loop: bool = False):  # type: ignore[no-untyped-def]
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse
    from jinja2 import Environment
    from sqlmodel import Session, col, select

    from pv.db import make_engine
    from pv.events.models import AdverseEvent as AE
    from pv.study.models import Subject

    engine = make_engine(url)
    template = Environment(autoescape=True).from_string(BARE_PAGE)
    app = FastAPI()

    def events(
        site: str = "",
        arm: str = "",
        aesi: str = "",
        serious: str = "",
        grade3: str = "",
        status: str = "",
    ) -> HTMLResponse:
        q = select(AE, Subject.usubjid).join(Subject, col(Subject.id) == AE.subject_id)
        if site:
            q = q.where(AE.site_id == int(site))
        if arm:
            q = q.where(Subject.arm_id == int(arm))
        if aesi:
            q = q.where(col(AE.aesi).contains(aesi))
        if serious:
            q = q.where(AE.aeser == (serious == "Y"))
        if grade3:
            q = q.where(col(AE.aetoxgr) >= 3)
        q = q.where(AE.status == status) if status else q.where(AE.status != "draft")
        with Session(engine) as session:
            rows = session.exec(q.order_by(col(AE.id).desc()).limit(50)).all()
        return HTMLResponse(template.render(rows=rows))

    if on_loop:  # the way the queue route runs: on the event loop, no thread hand-off

        @functools.wraps(events)  # FastAPI reads the query parameters through __wrapped__
        async def events_on_loop(**params: str) -> HTMLResponse:
            return events(**params)

        app.get("/events")(events_on_loop)
    else:  # the usual way: a plain function, run in FastAPI's thread pool
        app.get("/events")(events)
    return app


# --- servers and load ---------------------------------------------------------------------


def start(
    kind: str, url: str, log: Path, bare_on_loop: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PV_DATABASE_URL"] = url
    flags = [
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if kind == "queue":
        cmd = [sys.executable, "-m", "uvicorn", "pv.web.asgi:app", *flags]
    else:
        cmd = [sys.executable, __file__, "--serve-bare", "--url", url, "--port", str(port)]
        cmd += ["--bare-on-loop"] if bare_on_loop else []
    return launch(cmd, env, port, log, kind), port


def start_workers(
    kind: str, url: str, log: Path, workers: int, bare_on_loop: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """A server with `workers` uvicorn worker processes, started as `pvtracker serve`
    starts one: pv.web.cli.run_server (the import string pv.web.asgi:app, a supervisor
    above the workers when there are two or more; access log off, as PV_ACCESS_LOG's
    default). The bare page: the same uvicorn options and supervisor, its app from a
    factory each worker calls. Returns once every worker listens."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env.update(PV_DATABASE_URL=url, PV_LOG_LEVEL="WARNING")
    if kind == "queue":
        code = f"from pv.web.cli import run_server; run_server({HOST!r}, {port}, {workers})"
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, __file__, "--serve-bare", "--url", url, "--port", str(port),
               "--serve-workers", str(workers)]  # fmt: skip
        cmd += ["--bare-on-loop"] if bare_on_loop else []
    proc = launch(cmd, env, port, log, f"{kind} ({workers} workers)")
    deadline = time.monotonic() + 60  # the first worker may listen before the others
    while workers > 1 and time.monotonic() < deadline:
        kids = workers_of(proc.pid)
        if len(kids) >= workers and 0 not in connections(port, kids, state="0A"):
            break
        time.sleep(0.2)
    return proc, port


def bare_from_env():  # type: ignore[no-untyped-def]
    """The bare page's app in a uvicorn worker process (an app factory: --workers > 1)."""
    return bare_app(os.environ["BENCH_BARE_URL"], os.environ.get("BENCH_BARE_ON_LOOP") == "1")


def login(port: int, url: str) -> str:
    """Create the bench officer (once) and log in through the form; the session cookie."""
    from pv.audit.service import Actor
    from pv.auth.service import create_user, get_user
    from pv.db import make_engine, write_session

    engine = make_engine(url)
    with write_session(engine) as session:
        if get_user(session, "bench") is None:
            create_user(
                session=session,
                actor=Actor.system("bench"),
                username="bench",
                role="officer",
                password=PASSWORD,
            )
    engine.dispose()
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    page, cookie = resp.read().decode(), resp.getheader("set-cookie", "")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    body = urlencode({"username": "bench", "password": PASSWORD, "csrf_token": token})
    conn.request(
        "POST",
        "/login",
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie.split(";")[0]},
    )
    resp = conn.getresponse()
    resp.read()
    session = resp.getheader("set-cookie", "").split(";")[0]
    assert resp.status == 303 and session.startswith("pv_session="), resp.status
    return session


Request = tuple[str, dict[str, str]]  # path, headers


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workers_of(pid: int) -> list[int]:
    """The worker processes of a uvicorn server started with --workers > 1 (the children
    of its supervisor); the server itself when it has none (one worker: in-process)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        kids = [k for k in kids if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
    except OSError:
        return [pid]
    return [int(k) for k in kids] or [pid]  # not multiprocessing's resource tracker


def server_cpu(pid: int) -> float | None:
    """CPU time of a server: its process and its worker processes."""
    found = [cpu_seconds(p) for p in {pid, *workers_of(pid)}]
    return None if None in found else sum(found)  # type: ignore[arg-type]


def connections(port: int, pids: list[int], state: str = "01") -> list[int]:
    """Established connections (or with state "0A", listening sockets) on `port` held by
    each of `pids` (Linux: /proc/net/tcp and the processes' socket descriptors); [] off
    Linux."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    local = f":{port:04X}"
    inodes = {f.split()[9] for f in table if f.split()[1].endswith(local) and f.split()[3] == state}
    counts = []
    for pid in pids:
        held = 0
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                held += link.startswith("socket:[") and link[8:-1] in inodes
        except OSError:
            pass
        counts.append(held)
    return counts


def load(
    port: int,
    requests: list[Request],
    *,
    total: int,
    clients: int,
    limit_s: float,
    pid: int | None = None,
) -> dict[str, float]:
    """Send `total` GETs from `clients` threads (one keep-alive connection each), cycling
    through `requests`; stop early after `limit_s` seconds."""
    latencies: list[float] = []
    errors: list[str] = []
    lock, counter = threading.Lock(), iter(range(total))
    deadline = time.monotonic() + limit_s

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            path, headers = requests[i % len(requests)]
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            took = time.perf_counter() - t0
            with lock:
                latencies.append(took)
                if resp.status != 200:
                    errors.append(f"{resp.status} {path}")
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    cpu0 = server_cpu(pid) if pid else None
    client0 = time.process_time()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    client_cpu = time.process_time() - client0  # this process: the client threads
    cpu1 = server_cpu(pid) if pid else None
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, e.g. {errors[:3]}")
    ms = sorted(x * 1000 for x in latencies)
    cpu = (cpu1 - cpu0) * 1000 / len(ms) if cpu0 is not None and cpu1 is not None else float("nan")
    return {
        "n": len(ms),
        "rps": len(ms) / elapsed,
        "p50": statistics.median(ms),
        "p95": ms[int(len(ms) * 0.95) - 1],
        "max": ms[-1],
        "cpu_ms": cpu,
        "client_ms": client_cpu * 1000 / len(ms),
    }


WRK_SCRIPT = """
local requests = {%s}
local i = 0
request = function()
  i = i + 1
  local r = requests[(i %% #requests) + 1]
  return wrk.format("GET", r[1], r[2])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT %%d %%d %%f %%f %%f %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_wrk(
    port: int, requests: list[Request], *, seconds: float, clients: int, pid: int | None = None
) -> dict[str, float]:
    """The same closed loop driven by wrk (C, one thread, `clients` keep-alive connections)
    for `seconds`: no Python client shares the two cores' time or adds its own parsing to
    the latencies. wrk cycles through `requests` as the Python driver does."""
    entries = []
    for path, headers in requests:
        fields = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
        entries.append(f"{{{_lua(path)}, {{{fields}}}}}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ", ".join(entries))
    try:
        cpu0 = server_cpu(pid) if pid else None
        spent0 = _children_cpu()
        out = subprocess.run(
            ["wrk", "-t", "1", "-c", str(clients), "-d", f"{seconds:.0f}s", "-s", f.name,
             "--timeout", "30s", f"http://{HOST}:{port}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        cpu1 = server_cpu(pid) if pid else None
        client_cpu = _children_cpu() - spent0  # wrk's own CPU time, once it has ended
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    n, duration_us, p50, p95, most, errors, non2xx = (float(v) for v in line.split()[1:])
    if errors or non2xx:
        raise SystemExit(f"wrk: {errors:.0f} socket errors, {non2xx:.0f} non-2xx answers")
    cpu = (cpu1 - cpu0) * 1000 / n if cpu0 is not None and cpu1 is not None else float("nan")
    return {"n": n, "rps": n / (duration_us / 1e6), "p50": p50 / 1000, "p95": p95 / 1000,
            "max": most / 1000, "cpu_ms": cpu, "client_ms": client_cpu * 1000 / n}  # fmt: skip


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def requests_for(port: int, cookie: str) -> tuple[list[Request], list[Request]]:
    """What each server is asked. The queue: the unfiltered queue as a full page (opening
    it), every filter and two second pages as the htmx requests the page sends for them
    (HX-Request: the `_queue_table.html` fragment); the bare page: the same filters."""
    full, hx = {"Cookie": cookie}, {"Cookie": cookie, "HX-Request": "true"}
    queue: list[Request] = [(f"/review?{urlencode(f)}", hx if f else full) for f in FILTERS]
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    for f in ({}, {"serious": "Y"}):
        conn.request("GET", f"/review?{urlencode(f)}", headers=full)
        resp = conn.getresponse()
        found = re.search(r'href="(/review\?[^"]*cursor=[^"]+)"', resp.read().decode())
        assert resp.status == 200 and found, "no next-page link"
        queue.append((found.group(1).replace("&amp;", "&"), hx))
    bare = [(f"/events?{urlencode(f)}", {}) for f in (*FILTERS, {}, {"serious": "Y"})]
    return queue, bare


def _line(r: int, name: str, res: dict[str, float]) -> str:
    return (
        f"  round {r} {name:5} {res['rps']:6.0f} req/s   p50 {res['p50']:5.1f} ms   "
        f"p95 {res['p95']:5.1f} ms   max {res['max']:6.1f} ms   "
        f"server CPU {res['cpu_ms']:4.2f} ms/request   ({res['n']:.0f} requests)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, help="keep the bench database here (reused if present)")
    ap.add_argument("--requests", type=int, default=3000, help="requests per round and server")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per round, at most")
    ap.add_argument(
        "--driver",
        choices=("python", "wrk"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (the Debian package; the default when installed) or the "
        "Python threads below",
    )
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds per round with wrk")
    ap.add_argument(
        "--bare-on-loop",
        action="store_true",
        help="serve the bare page from an async function (on the event loop, as the queue "
        "is) instead of a plain one run in the thread pool",
    )
    add_pg_option(ap)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve-workers", type=int, help=argparse.SUPPRESS)
    ap.add_argument(
        "--workers-compare",
        action="store_true",
        help="instead of the queue against the bare page: each served with 1 and with 2 "
        "uvicorn workers (as `pvtracker serve --workers N`), rounds alternating",
    )
    ap.add_argument(
        "--query",
        action="store_true",
        help="only the queue's SQL per filter, in this process (no server): bench_queue_query",
    )
    args = ap.parse_args()
    if args.serve_bare:
        import uvicorn

        if args.serve_workers:  # uvicorn's workers import the app: a factory, by name
            os.environ.update(
                BENCH_BARE_URL=args.url, BENCH_BARE_ON_LOOP=str(int(args.bare_on_loop))
            )
            app: Any = "bench_queue:bare_from_env"
            if args.serve_workers > 1 and reuseport_balances():  # as `pvtracker serve` does
                serve_workers(app, HOST, args.port, args.serve_workers, factory=True,
                              log_level="warning", access_log=False)  # fmt: skip
                return
        else:
            app = bare_app(args.url, args.bare_on_loop)
        uvicorn.run(
            app,
            factory=bool(args.serve_workers),
            host=HOST,
            port=args.port,
            workers=args.serve_workers or 1,
            log_level="warning",
            access_log=False,
        )
        return
    if args.driver == "python" or not shutil.which("wrk"):
        args.driver = "python"
        print("load: Python threads (wrk is not installed, or --driver python): the client "
              "shares the machine's cores with the servers, and costs more than wrk")  # fmt: skip
    else:
        print("load: wrk")
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "queue.sqlite"
    url = bench_database(db, args.pg, study=STUDY, events=EVENTS, build=build)
    check_tally(url)
    log = db.with_suffix(".log")
    if args.query:
        from bench_queue_query import query_bench

        query_bench(url)
        tmp.cleanup()
        return
    if args.workers_compare:
        try:
            compare_workers(args, url, log)
        finally:
            tmp.cleanup()
        return
    servers: list[subprocess.Popen[bytes]] = []
    results: dict[str, list[dict[str, float]]] = {"bare": [], "queue": []}
    try:
        queue_proc, queue_port = start("queue", url, log)
        servers.append(queue_proc)
        bare_proc, bare_port = start("bare", url, log, args.bare_on_loop)
        servers.append(bare_proc)
        queue_requests, bare_requests = requests_for(queue_port, login(queue_port, url))
        targets = {
            "bare": (bare_proc.pid, bare_port, bare_requests),
            "queue": (queue_proc.pid, queue_port, queue_requests),
        }
        for _pid, port, reqs in targets.values():  # warm-up: caches, pages in memory
            load(port, reqs, total=300, clients=args.clients, limit_s=60)
        per_round = (
            f"{args.seconds:.0f} s of wrk" if args.driver == "wrk" else f"{args.requests} requests"
        )
        print(
            f"{per_round} per round and server, {args.clients} clients, "
            f"{len(FILTERS)} filter combinations + 2 second pages"
        )
        for r in range(1, args.rounds + 1):
            for name, (pid, port, reqs) in targets.items():
                if args.driver == "wrk":
                    res = load_wrk(port, reqs, seconds=args.seconds, clients=args.clients, pid=pid)
                else:
                    res = load(
                        port,
                        reqs,
                        total=args.requests,
                        clients=args.clients,
                        limit_s=args.time_limit,
                        pid=pid,
                    )
                results[name].append(res)
                print(_line(r, name, res))
    finally:
        for proc in servers:
            stop(proc)
        tmp.cleanup()
    _verdict(results)


def _run(args: argparse.Namespace, pid: int, port: int, reqs: list[Request]) -> dict[str, Any]:
    """One round against one server, and its connections per worker mid-round."""
    held: list[int] = []
    mid = args.seconds / 2 if args.driver == "wrk" else 1.0
    timer = threading.Timer(mid, lambda: held.extend(connections(port, workers_of(pid))))
    timer.start()
    try:
        if args.driver == "wrk":
            res: dict[str, Any] = load_wrk(
                port, reqs, seconds=args.seconds, clients=args.clients, pid=pid
            )
        else:
            res = load(port, reqs, total=args.requests, clients=args.clients,
                       limit_s=args.time_limit, pid=pid)  # fmt: skip
    finally:
        timer.cancel()
        timer.join()
    res["conns"] = held
    return res


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """min / median / max."""
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def compare_workers(args: argparse.Namespace, url: str, log: Path) -> None:
    """The real app and the bare page, each served with 1 and with 2 workers, in the same
    run; rounds alternate (and reverse their order every other round)."""
    servers: list[subprocess.Popen[bytes]] = []
    names = ["bare 1w", "queue 1w", "bare 2w", "queue 2w"]
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    try:
        targets: dict[str, tuple[int, int, list[Request]]] = {}
        ports = {}
        for name in names:
            kind, workers = name.split()[0], int(name.split()[1][0])
            proc, port = start_workers(kind, url, log, workers, args.bare_on_loop)
            servers.append(proc)
            ports[name] = (proc.pid, port)
        cookie = login(ports["queue 1w"][1], url)  # a session of the database: both servers
        queue_requests, bare_requests = requests_for(ports["queue 1w"][1], cookie)
        for name, (pid, port) in ports.items():
            targets[name] = (pid, port, queue_requests if "queue" in name else bare_requests)
        for _pid, port, reqs in targets.values():  # warm-up: every worker's caches
            load(port, reqs, total=600, clients=args.clients, limit_s=60)
        per_round = (
            f"{args.seconds:.0f} s of wrk" if args.driver == "wrk" else f"{args.requests} requests"
        )
        print(f"workers: {per_round} per round and server, {args.clients} clients, "
              f"{args.rounds} rounds; {os.cpu_count()} cores: servers and client")  # fmt: skip
        for r in range(1, args.rounds + 1):
            order = names if r % 2 else names[::-1]
            for name in order:
                pid, port, reqs = targets[name]
                res = _run(args, pid, port, reqs)
                results[name].append(res)
                print(_line(r, name, res) + f"   client CPU {res['client_ms']:.2f} ms/request"
                      f"   connections per worker {res['conns']}")  # fmt: skip
    finally:
        for proc in servers:
            stop(proc)
    _workers_verdict(results)


def _workers_verdict(results: dict[str, list[dict[str, Any]]]) -> None:
    print("min / median / max over the rounds:")
    for name, rounds in results.items():
        print(
            f"  {name:8}  req/s {_spread([x['rps'] for x in rounds], '{:.0f}')}   "
            f"p50 {_spread([x['p50'] for x in rounds])} ms   "
            f"p95 {_spread([x['p95'] for x in rounds])} ms   "
            f"server CPU {_spread([x['cpu_ms'] for x in rounds], '{:.2f}')} ms/request   "
            f"client CPU {_spread([x['client_ms'] for x in rounds], '{:.2f}')} ms/request"
        )
    rounds = range(len(results["queue 1w"]))
    ratio = [results["queue 2w"][i]["rps"] / results["queue 1w"][i]["rps"] for i in rounds]
    floor = [results["bare 2w"][i]["rps"] / results["bare 1w"][i]["rps"] for i in rounds]
    p95 = [x["p95"] for x in results["queue 2w"]]
    bare_p95 = [x["p95"] for x in results["bare 2w"]]
    print(f"  2 workers / 1 worker, per round: queue {_spread(ratio, '{:.2f}')} x; "
          f"floor (bare page) {_spread(floor, '{:.2f}')} x")  # fmt: skip
    print(f"  target queue 2w/1w >= 1.6 x (median round): {statistics.median(ratio):.2f} x, "
          f"{'met' if statistics.median(ratio) >= 1.6 else 'NOT met'}")  # fmt: skip
    print(f"  target queue p95 <= 50 ms with 2 workers (median round): "
          f"{statistics.median(p95):.1f} ms, {'met' if statistics.median(p95) <= 50 else 'NOT met'}"
          f"; floor (bare page, 2 workers) {statistics.median(bare_p95):.1f} ms")  # fmt: skip


def _verdict(results: dict[str, list[dict[str, float]]]) -> None:
    med = {k: sorted(v, key=lambda x: x["rps"])[len(v) // 2] for k, v in results.items()}
    q, b = med["queue"], med["bare"]
    ratio = q["rps"] / b["rps"]
    print(
        f"median round: queue {q['rps']:.0f} req/s, p95 {q['p95']:.1f} ms, "
        f"{q['cpu_ms']:.2f} ms CPU/request; bare {b['rps']:.0f} req/s, p95 {b['p95']:.1f} ms, "
        f"{b['cpu_ms']:.2f} ms CPU/request"
    )
    print(f"  target queue p95 <= 60 ms: {'met' if q['p95'] <= 60 else 'NOT met'}")
    print(
        f"  target queue >= 0.9 x bare req/s: {ratio:.2f} x, {'met' if ratio >= 0.9 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
