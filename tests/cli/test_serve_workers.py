"""`pvtracker serve --workers N` spreads connections over its workers (issue 17 point 3): on
Linux each worker listens on its own SO_REUSEPORT socket under a supervisor (pv.web.cli),
which replaces a worker that dies, stops them all on SIGTERM, and fails clearly when the
port is taken or workers die before they serve.

Real servers on 127.0.0.1 (`python -m pv serve`, as `pvtracker serve`); which worker holds a
connection is read from the server side (/proc/net/tcp and each worker's socket
descriptors), so the app needs no endpoint of its own for it. No timed assertions: the
waits only bound how long a test may hang. Every process started is stopped by PID."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pv.web import cli as web_cli

HOST = "127.0.0.1"
WAIT_S = 120  # a bound on start-up and shutdown (spawned workers import the app), not a target
ROOT = Path(__file__).resolve().parents[2]

linux_reuseport = pytest.mark.skipif(
    not web_cli.reuseport_balances(), reason="SO_REUSEPORT balances connections on Linux only"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env.update(PV_DATABASE_URL=db_url, PV_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    return env


def _workers(supervisor: int) -> list[int]:
    """The supervisor's worker processes (multiprocessing's spawned children; not its
    resource tracker)."""
    try:
        kids = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    except OSError:
        return []
    found = []
    for kid in kids:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                found.append(int(kid))
    return found


def _sockets(pid: int) -> set[str]:
    """The inodes of a process's sockets."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    return inodes


def _tcp_table() -> list[list[str]]:
    return [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]


def _listening(port: int, pids: list[int]) -> list[int]:
    """Those of `pids` that hold a listening socket on `port` of their own."""
    local = f"0100007F:{port:04X}"
    inodes = {f[9] for f in _tcp_table() if f[1] == local and f[3] == "0A"}
    return [pid for pid in pids if _sockets(pid) & inodes]


def _holder(port: int, conn: http.client.HTTPConnection, pids: list[int]) -> int | None:
    """Which of `pids` holds the server end of the client connection `conn`."""
    client_port = conn.sock.getsockname()[1]
    local, remote = f"0100007F:{port:04X}", f"0100007F:{client_port:04X}"
    [inode] = [f[9] for f in _tcp_table() if f[1] == local and f[2] == remote and f[3] == "01"]
    held = [pid for pid in pids if inode in _sockets(pid)]
    return held[0] if len(held) == 1 else None


def _get(port: int) -> http.client.HTTPConnection:
    """A keep-alive connection that has had one page served (so a worker has accepted it)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200 and not resp.will_close
    return conn


def _wait(what: str, check: Any, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"{what}: not seen (exit status {proc.poll()})\n{log.read_text()[-4000:]}")


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log
        self.seen: set[int] = set()  # every worker PID seen, stopped by PID in teardown

    def serving(self, count: int, without: int | None = None) -> list[int]:
        """Wait until `count` workers (not `without`) each listen on the port; their PIDs."""

        def ready() -> list[int]:
            pids = _listening(self.port, _workers(self.proc.pid))
            return pids if len(pids) == count and without not in pids else []

        pids: list[int] = _wait(f"{count} listening workers", ready, self.proc, self.log)
        self.seen.update(pids)
        return pids


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Served]:
    port, log = _free_port(), tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "pv", "serve", "--workers", "2", "--host", HOST,
           "--port", str(port)]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=_env(db_url), cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
    server = Served(proc, port, log)
    try:
        yield server
    finally:
        server.seen.update(_workers(proc.pid))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=WAIT_S)
        for pid in server.seen:  # none should be left; a leftover would be an orphan
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@linux_reuseport
@pytest.mark.server
def test_two_workers_share_the_connections_and_a_dead_one_is_replaced(
    served: Served,
) -> None:
    first = served.serving(2)
    conns = [_get(served.port) for _ in range(20)]
    holders = [_holder(served.port, c, first) for c in conns]
    for c in conns:
        c.close()
    # each of 20 connections is hashed onto one of the two sockets: one worker holding all
    # of them has a chance of 2 in 2**20
    assert None not in holders and set(holders) == set(first), holders

    killed = first[0]
    os.kill(killed, signal.SIGKILL)
    second = served.serving(2, without=killed)
    [new] = set(second) - set(first)
    assert first[1] in second  # the other worker went on serving
    conns = []
    try:
        for _ in range(40):  # the new worker gets a connection (all 40 elsewhere: 2**-40)
            conns.append(_get(served.port))
            if _holder(served.port, conns[-1], second) == new:
                break
        else:
            pytest.fail("the replacement worker served no connection of 40")
    finally:
        for c in conns:
            c.close()
    assert "died (exit status -9); restarting it" in served.log.read_text()

    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=WAIT_S) == 0
    assert not [pid for pid in served.seen if Path(f"/proc/{pid}").exists()]


@linux_reuseport
@pytest.mark.parametrize(
    ("reuseport", "language", "says"),
    [(False, "en", "port {port} is in use"), (True, "en", "port {port} is in use"),
     (True, "zh-Hans", "端口 {port} 已被占用")],
    ids=["plain", "reuseport", "reuseport-zh"],
)  # fmt: skip
def test_a_port_in_use_fails_naming_the_port(
    db_url: str, reuseport: bool, language: str, says: str
) -> None:
    """Another server on the port, whether its socket allows SO_REUSEPORT or not (another
    `serve --workers` there would silently share its connections); in the user's language."""
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pv", "serve", "--workers", "2", "--port", str(port)],
            env={**_env(db_url), "PV_LANGUAGE": language}, cwd=ROOT, capture_output=True,
            text=True, timeout=WAIT_S,
        )  # fmt: skip
    assert done.returncode != 0
    assert says.format(port=port) in done.stderr, done.stderr
    assert "spawn_main" not in done.stderr  # it failed before starting any worker


@linux_reuseport
def test_workers_dying_before_they_serve_make_it_give_up(tmp_path: Path) -> None:
    """An app that cannot be imported: each restart dies again, and after three deaths in a
    row the supervisor stops and fails with a message (not a restart loop)."""
    code = ("from pv.web.cli import serve_workers; "
            f"serve_workers('pv.web.no_such_module:app', {HOST!r}, {_free_port()}, 2, "
            "log_level='info')")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=WAIT_S)  # fmt: skip
    assert done.returncode != 0
    assert "a worker died 3 times before serving" in done.stderr, done.stderr[-3000:]
    assert "restarting it" in done.stderr


def test_serve_runs_the_workers_under_the_supervisor_where_sockets_balance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(("uvicorn", a, kw)))
    monkeypatch.setattr(web_cli, "serve_workers", lambda *a, **kw: calls.append(("ours", a, kw)))
    monkeypatch.setattr(web_cli, "reuseport_balances", lambda: True)
    web_cli.run_server("127.0.0.1", 8000, 2, access_log=False)
    web_cli.run_server("127.0.0.1", 8000, 1, access_log=False)
    monkeypatch.setattr(web_cli, "reuseport_balances", lambda: False)
    web_cli.run_server("127.0.0.1", 8000, 2, access_log=False)
    [(ours, args, options), (one, _, single), (fallback, _, shared)] = calls
    assert ours == "ours" and args == ("pv.web.asgi:app", "127.0.0.1", 8000, 2)
    assert options["proxy_headers"] is True and options["access_log"] is False
    assert (one, single["workers"]) == ("uvicorn", 1)
    assert (fallback, shared["workers"], shared["proxy_headers"]) == ("uvicorn", 2, True)
