"""The app served for a benchmark: uvicorn on 127.0.0.1 (one worker, uploads in its worker
process), stopped by the benchmark; a browser-like log-in. Shared by the upload benches."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HOST = "127.0.0.1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`uvicorn pv.web.asgi:app` on `url`'s database, one worker; (process, base URL)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PV_DATABASE_URL"] = url
    cmd = [sys.executable, "-m", "uvicorn", "pv.web.asgi:app", "--host", HOST, "--port",
           str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return launch(cmd, env, port, log), f"http://{HOST}:{port}"


def launch(cmd: list[str], env: dict[str, str], port: int, log: Path, what: str = "app"
           ) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start a server process (output to `log`) and wait until it listens on `port`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"the {what} server did not start; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn ends its upload worker too), SIGKILL after 30 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def web_login(base: str, username: str, password: str, page: str = "/",
              timeout: float = 300) -> tuple[httpx.Client, str]:  # fmt: skip
    """A logged-in client and the CSRF token of `page`."""
    client = httpx.Client(base_url=base, timeout=timeout)
    token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": token})  # fmt: skip
    assert r.status_code in (200, 303), r.status_code
    csrf = CSRF.search(client.get(page).text).group(1)  # type: ignore[union-attr]
    return client, csrf
