"""A real SMTP server on 127.0.0.1 (aiosmtpd) and pv-tracker configured to use it.

`smtp` is the running server: `smtp.messages` holds what arrived (parsed e-mails),
`smtp.wait(n)` waits until n have. `mail_env` is the web fixtures' app (tests/web/conftest.py:
the demo study, sites 01 and 02, inv1, inv2, officer, dsmb, admin) plus a second officer,
with PV_SMTP_* pointing at that server and every user given an address
(<username>@pv.test). Settings are read from the environment (pv.settings.get_settings),
as the deployed app reads them.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from pv.auth.service import create_user
from pv.db import write_session
from pv.notify import mail
from pv.notify.service import set_email
from pv.settings import get_settings
from tests.web.conftest import app_env  # noqa: F401  (the app and its users)

BASE_URL = "http://pv.test"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._cond:
            self.messages.append(msg)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._cond.notify_all()
        return "250 OK"

    def wait(self, n: int, timeout: float = 20.0) -> list[EmailMessage]:
        """Wait until `n` messages have arrived (the sender runs after the commit, in a
        background thread), then a moment more to see that no extra one follows."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        mail.wait_idle()
        return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def start_smtp(port: int | None = None) -> tuple[Controller, SmtpServer]:
    server = SmtpServer(port=port or free_port())
    controller = Controller(server, hostname=HOST, port=server.port)
    controller.start()
    return controller, server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    controller, server = start_smtp()
    try:
        yield server
    finally:
        controller.stop()


def configure(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """PV_SMTP_* to a plain SMTP server on 127.0.0.1:port (no STARTTLS, no log-in)."""
    monkeypatch.setenv("PV_SMTP_HOST", HOST)
    monkeypatch.setenv("PV_SMTP_PORT", str(port))
    monkeypatch.setenv("PV_SMTP_STARTTLS", "false")
    monkeypatch.setenv("PV_SMTP_FROM", "pv-tracker@pv.test")
    monkeypatch.setenv("PV_SMTP_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("PV_BASE_URL", BASE_URL)
    get_settings.cache_clear()


@pytest.fixture
def mail_env(app_env, smtp, monkeypatch):  # noqa: F811
    env = app_env
    configure(monkeypatch, smtp.port)
    system = env.users["admin"]
    from pv.auth.service import actor_for

    with write_session(env.engine) as s:
        env.users["officer2"] = create_user(
            session=s, actor=actor_for(system), username="officer2", role="officer"
        )
        for name in env.users:
            set_email(s, username=name, address=f"{name}@pv.test")
    env.smtp = smtp
    yield env
    mail.wait_idle()
    get_settings.cache_clear()
    from pv.db import _engines  # `pvtracker` commands of the test opened this database

    cached = _engines.pop(env.engine.url.render_as_string(hide_password=False), None)
    if cached is not None:
        cached.dispose()
