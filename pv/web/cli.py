"""Command: serve (upgrades the database first).

`pvtracker serve --workers N` (N > 1, Linux) runs N uvicorn worker processes under a small
supervisor of its own (`serve_workers`), each worker with its OWN listening socket bound to
host:port with SO_REUSEPORT, so that the kernel spreads new connections over the workers.

Why (issue 17 point 3): uvicorn's multi-worker mode shares one listening socket between its
workers, and a worker keeps every keep-alive connection it accepts. A client that opens its
connections in one burst (wrk's 10, a proxy's pool) lands most of them on whichever worker
wakes first: measured connections per worker under `--workers 2` at 10 clients were
[9, 1], [1, 9], [8, 2], [10, 0], [3, 7] (bench/bench_queue.py --workers-compare), so two
workers served like one (2/1-worker ratio 0.86 / 1.02 / 1.99 x). With one socket per worker,
Linux hashes each new connection (its addresses and ports) onto one of the listening sockets
of the port's SO_REUSEPORT group: the split follows a binomial law, not who wakes first
(measured with this supervisor: see /tmp/q17/readme-workers.md and the bench's output). No
worker refuses connections beyond its share: the hashing is enough, and a worker that stops
accepting would only queue connections in its own backlog.

The supervisor (the parent process) checks first that the port is free (a clear error
otherwise, the port named), then starts the workers with multiprocessing's "spawn" context:
each is a fresh interpreter that imports the app itself (nothing half-initialised is
inherited). It restarts a worker that dies, after a short back-off (0.5 s, doubling while a
worker keeps dying before it serves); it gives up, stops the others and fails with an error
when a worker cannot bind the port or dies before serving three times in a row. SIGINT or
SIGTERM: it sends SIGTERM to every worker (uvicorn's graceful shutdown), waits for them and
returns; a second signal is passed on as SIGINT (uvicorn's forced exit). A worker whose
supervisor disappears stops by itself. The costs of SO_REUSEPORT: connections waiting in a
worker's own backlog when it dies are reset (the established ones die with it anyway), and
another process of the same user could join the group by binding the same port with
SO_REUSEPORT (the start-up check catches one that listens without it).

With one worker, `uvicorn.run` as before. Where SO_REUSEPORT does not balance (not Linux:
macOS and the BSDs send connections to one socket or need other options), uvicorn's own
multi-worker mode, with a warning.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from pv.i18n import gettext as _

APP = "pv.web.asgi:app"
BIND_FAILED = 98  # a worker's exit status when it cannot bind host:port
START_ATTEMPTS = 3  # a worker that dies before serving this many times in a row: give up
BACKOFF_S = 0.5  # before restarting a worker; doubled per consecutive start failure
LOG = logging.getLogger("uvicorn.error")


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help=_("run the web app (PV_DATABASE_URL selects the database)")
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--access-log", action=argparse.BooleanOptionalAction, default=None,
        help=_("log one line per request (default: PV_ACCESS_LOG, off: a proxy in front logs "
               "them)"),
    )  # fmt: skip
    serve.set_defaults(func=_serve)


def server_options(access_log: bool | None = None) -> dict[str, object]:
    """uvicorn's logging options from the settings: PV_LOG_LEVEL, and the access log
    (PV_ACCESS_LOG unless `access_log` says otherwise)."""
    from pv.settings import get_settings

    settings = get_settings()
    return {
        "log_level": settings.log_level.lower(),
        "access_log": settings.access_log if access_log is None else access_log,
    }


def reuseport_balances() -> bool:
    """Whether sockets bound with SO_REUSEPORT share a port's connections (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def run_server(host: str, port: int, workers: int = 1, access_log: bool | None = None) -> None:
    """Serve the app: one worker in this process, or `workers` under `serve_workers`."""
    import uvicorn

    options: dict[str, Any] = {"proxy_headers": True, **server_options(access_log)}
    if workers > 1 and reuseport_balances():
        serve_workers(APP, host, port, workers, **options)
        return
    if workers > 1:
        LOG.warning(
            "SO_REUSEPORT does not balance connections on %s: uvicorn's own workers share "
            "one listening socket, and a burst of keep-alive connections may land on one",
            sys.platform,
        )
    uvicorn.run(APP, host=host, port=port, workers=workers, **options)


# --- the supervisor and its workers -------------------------------------------------------


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """The family and address to bind, as uvicorn's own workers bind them."""
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, port)


def _bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return _(
            "port %(port)s is in use on %(host)s: cannot serve there (%(reason)s)",
            port=port, host=host, reason=exc.strerror,
        )  # fmt: skip
    return _("cannot listen on %(host)s port %(port)s: %(reason)s", host=host, port=port,
             reason=str(exc))  # fmt: skip


def _check_port_free(host: str, port: int) -> None:
    """Raise CommandError when something listens on host:port (a socket bound without
    SO_REUSEPORT fails where any other socket holds the port, SO_REUSEPORT or not)."""
    from pv.cli import CommandError

    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            probe.bind(address)
        except OSError as exc:
            raise CommandError(_bind_error(host, port, exc)) from None


def _worker(app: str, host: str, port: int, options: dict[str, Any], supervisor: int,
            ready: Any) -> None:  # fmt: skip
    """A worker process: its own SO_REUSEPORT socket on host:port, then uvicorn on it; one
    message on `ready` once it serves."""
    import uvicorn

    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)  # listens once the app has started (asyncio's create_server)
    except OSError as exc:
        print(_bind_error(host, port, exc), file=sys.stderr, flush=True)
        sys.exit(BIND_FAILED)

    class Worker(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                ready.send_bytes(b"ready")
                ready.close()

    server = Worker(uvicorn.Config(app, host=host, port=port, **options))

    def watch_supervisor() -> None:  # orphaned (the supervisor was killed): stop
        while not server.should_exit:
            if os.getppid() != supervisor:
                server.should_exit = True
            time.sleep(1.0)

    threading.Thread(target=watch_supervisor, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises a SIGINT at its end
        server.run(sockets=[sock])


@dataclass
class _Slot:
    """One worker's place: its process (None while waiting to restart), its `ready`
    pipe until the worker serves, whether it serves, consecutive deaths before serving,
    when to (re)start it."""

    process: Any = None
    ready: Any = None
    serving: bool = False
    failures: int = 0
    start_at: float = 0.0


class _Supervisor:
    def __init__(self, app: str, host: str, port: int, workers: int,
                 options: dict[str, Any]) -> None:  # fmt: skip
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        self.app, self.host, self.port, self.options = app, host, port, options
        self.slots = [_Slot() for _ in range(workers)]
        self.signals: list[int] = []
        self.failure = ""

    def _on_signal(self, sig: int, frame: object) -> None:
        self.signals.append(sig)  # acted upon in the loop (woken through the wakeup fd)

    def _start(self, slot: _Slot) -> None:
        receive, send = self.ctx.Pipe(duplex=False)
        slot.process = self.ctx.Process(
            target=_worker,
            args=(self.app, self.host, self.port, self.options, os.getpid(), send),
            name="pvtracker-worker",
        )
        slot.process.start()
        send.close()
        slot.ready, slot.serving = receive, False

    def _served(self, slot: _Slot) -> None:
        try:
            slot.ready.recv_bytes()
            slot.serving, slot.failures = True, 0
            LOG.info("Worker [%d] serves", slot.process.pid)
        except EOFError:  # died before it served: its sentinel says so too
            pass
        slot.ready.close()
        slot.ready = None

    def _died(self, slot: _Slot) -> None:
        if slot.ready is not None and slot.ready.poll():
            self._served(slot)  # it served, and died since
        if slot.ready is not None:
            slot.ready.close()
            slot.ready = None
        process, slot.process = slot.process, None
        process.join()
        code = process.exitcode
        if code == BIND_FAILED:
            in_use = OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
            self.failure = _bind_error(self.host, self.port, in_use)
            return
        if not slot.serving:
            slot.failures += 1
            if slot.failures >= START_ATTEMPTS:
                self.failure = _(
                    "a worker died %(count)d times before serving (exit status %(status)s); "
                    "see the log above",
                    count=slot.failures, status=code,
                )  # fmt: skip
                return
        delay = BACKOFF_S * 2 ** max(slot.failures - 1, 0)
        LOG.warning("Worker [%d] died (exit status %s); restarting it in %.1f s",
                    process.pid, code, delay)  # fmt: skip
        slot.start_at = time.monotonic() + delay

    def _alive(self) -> list[_Slot]:
        return [s for s in self.slots if s.process is not None]

    def run(self) -> str:
        """Serve until a signal (""), or until it gives up (the reason)."""
        from multiprocessing.connection import wait

        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        previous_fd = signal.set_wakeup_fd(wake_w.fileno())
        try:
            LOG.info("Started supervisor [%d]: %d workers, one SO_REUSEPORT socket each, "
                     "on http://%s:%d", os.getpid(), len(self.slots), self.host,
                     self.port)  # fmt: skip
            while not self.signals and not self.failure:
                now = time.monotonic()
                for slot in self.slots:
                    if slot.process is None and slot.start_at <= now:
                        self._start(slot)
                waiting = [s.start_at - now for s in self.slots if s.process is None]
                objects = {s.process.sentinel: s for s in self._alive()}
                readies = {s.ready: s for s in self._alive() if s.ready is not None}
                timeout = max(min(waiting), 0.0) if waiting else None
                ready = wait([wake_r, *readies, *objects], timeout)
                for obj in ready:
                    if obj in readies:
                        self._served(readies[obj])
                for obj in ready:
                    if obj in objects and not self.failure:
                        self._died(objects[obj])
                _drain(wake_r)
            self._stop(wake_r)
            return self.failure
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            wake_r.close()
            wake_w.close()

    def _stop(self, wake_r: socket.socket) -> None:
        """SIGTERM to every worker, then wait; a further signal is passed on as SIGINT."""
        from multiprocessing.connection import wait

        LOG.info("Stopping %d workers", len(self._alive()))
        forwarded = len(self.signals)
        for slot in self._alive():
            _kill(slot.process.pid, signal.SIGTERM)
        while self._alive():
            if len(self.signals) > forwarded:
                forwarded = len(self.signals)
                for slot in self._alive():
                    _kill(slot.process.pid, signal.SIGINT)
            objects = {s.process.sentinel: s for s in self._alive()}
            for obj in wait([wake_r, *objects]):
                if obj in objects:
                    slot = objects[obj]
                    slot.process.join()
                    slot.process = None
            _drain(wake_r)
        for slot in self.slots:
            if slot.ready is not None:
                slot.ready.close()
                slot.ready = None


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(512):
            pass
    except OSError:  # BlockingIOError: nothing (more) to read
        pass


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def serve_workers(app: str, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve `app` (an import string) with `workers` uvicorn worker processes, each with its
    own SO_REUSEPORT socket on host:port, under a supervisor (this process; see the module's
    docstring). `options` go to each worker's uvicorn.Config. Returns after SIGINT/SIGTERM;
    raises CommandError when the port is taken or workers keep dying before they serve."""
    import uvicorn

    from pv.cli import CommandError

    uvicorn.Config(app, host=host, port=port, **options)  # uvicorn's logging, as a worker's
    _check_port_free(host, port)
    failure = _Supervisor(app, host, port, workers, options).run()
    if failure:
        raise CommandError(failure)


def _serve(args: argparse.Namespace) -> int:
    from pv.cli import database

    database(upgrade=True)
    run_server(args.host, args.port, args.workers, access_log=args.access_log)
    return 0
