"""A running pv-tracker: uvicorn in a subprocess on 127.0.0.1, on the test's own database.

`live_server` prepares the database at `db_url` (the demo study imported, sites 01 and 02,
an investigator of site 01 with a password and an API token, a safety officer, a second
safety officer, a DSMB member and an admin with passwords, a subject in the combination
arm), starts
`python -m uvicorn pv.web.asgi:app` on a free port with PV_DATABASE_URL pointing at that
database, waits until it answers, and stops it by its PID afterwards, whatever happened
in the test. `browser` is a headless Chromium (the Debian package, driven by Playwright)
shared by a module's tests; `Person` is one user's signed-in browser context.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from pv.audit.service import Actor
from pv.auth.service import create_user, issue_token
from pv.db import make_engine, write_session
from pv.study.ctgov import parse_ctgov
from pv.study.models import Arm, Site
from pv.study.service import add_site, add_subject, import_ctgov

if TYPE_CHECKING:
    from playwright.sync_api import Browser

STUDY_RECORD = Path(__file__).resolve().parents[2] / "pv" / "demo" / "NCT04660565.json"
STUDY_ID = "NCT04660565"
COMBINATION_ARM = "Combination therapy Group"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
HOST = "127.0.0.1"


@dataclass
class LiveServer:
    base_url: str
    db_url: str
    pid: int
    log_path: Path
    study_id: str
    site_id: int  # site 01
    other_site_id: int  # site 02
    investigator: str
    investigator_password: str
    investigator_token: str
    officer: str
    officer_password: str
    officer_token: str
    subject_id: int
    usubjid: str
    drug_keys: list[str] = field(default_factory=list)
    officer2: str = "officer2"
    officer2_password: str = "copper lagoon thistle"
    admin: str = "admin"
    admin_password: str = "harbor falcon mosaic"
    dsmb: str = "dsmb"
    dsmb_password: str = "cobalt prairie anthem"

    def api(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        """An HTTP client for the API, with the investigator's token unless told otherwise."""
        headers = {"Authorization": f"Bearer {token or self.investigator_token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def count(self, model: type) -> int:
        """How many rows of `model` the served database holds now."""
        engine = make_engine(self.db_url)
        try:
            with Session(engine) as s:
                return int(s.exec(select(func.count()).select_from(model)).one())
        finally:
            engine.dispose()


@dataclass
class _Seed:
    site_id: int
    other_site_id: int
    subject_id: int
    usubjid: str
    investigator_token: str
    officer_token: str
    drug_keys: list[str]


INVESTIGATOR = ("inv01", "willow canyon sketch")
OFFICER = ("officer", "maple tundra quartz")
OFFICER2 = ("officer2", "copper lagoon thistle")
ADMIN = ("admin", "harbor falcon mosaic")
DSMB = ("dsmb", "cobalt prairie anthem")


def _seed(db_url: str) -> _Seed:
    from pv.events.service import subject_drugs

    engine = make_engine(db_url)
    try:
        actor = Actor.system("live-test")
        with write_session(engine) as session:
            spec = parse_ctgov(json.loads(STUDY_RECORD.read_text(encoding="utf-8")))
            study, _ = import_ctgov(session=session, actor=actor, spec=spec)
            site = session.exec(
                select(Site).where(Site.study_id == study.id, Site.code == "01")
            ).one()
            other = add_site(
                session=session, actor=actor, study_id=study.id, code="02", name="Second site"
            )
            arm = session.exec(
                select(Arm).where(Arm.study_id == study.id, Arm.label == COMBINATION_ARM)
            ).one()
            inv = create_user(
                session=session,
                actor=actor,
                username=INVESTIGATOR[0],
                role="investigator",
                password=INVESTIGATOR[1],
                sites=[site],
            )
            off = create_user(
                session=session,
                actor=actor,
                username=OFFICER[0],
                role="officer",
                password=OFFICER[1],
            )
            for username, password, role in (
                (*OFFICER2, "officer"),
                (*ADMIN, "admin"),
                (*DSMB, "dsmb"),
            ):
                create_user(
                    session=session, actor=actor, username=username, role=role, password=password
                )
            subject = add_subject(
                session=session,
                actor=actor,
                study_id=study.id,
                site=site,
                subjid="0001",
                arm=arm,
                sex="F",
                age=34,
                weight_kg=58.5,
                consent_date=date(2021, 1, 15),
                randomization_date=date(2021, 1, 20),
            )
            seed = _Seed(
                site_id=site.id,  # type: ignore[arg-type]
                other_site_id=other.id,  # type: ignore[arg-type]
                subject_id=subject.id,  # type: ignore[arg-type]
                usubjid=subject.usubjid,
                investigator_token=issue_token(session=session, actor=actor, user=inv),
                officer_token=issue_token(session=session, actor=actor, user=off),
                drug_keys=[d.key for d in subject_drugs(session, subject)],
            )
        if engine.url.get_backend_name() == "sqlite":
            with engine.connect() as conn:  # hand the server a file with no pending WAL
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return seed
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


def _start(db_url: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start uvicorn and wait until it answers; a port taken meanwhile gets another try."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PV_DATABASE_URL"] = db_url
    env["PYTHONUNBUFFERED"] = "1"
    last_error = ""
    for _attempt in range(3):
        port = _free_port()
        base_url = f"http://{HOST}:{port}"
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "pv.web.asgi:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "info",
        ]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    last_error = f"uvicorn exited with code {proc.returncode}"
                    break
                try:
                    if httpx.get(f"{base_url}/login", timeout=1.0).status_code == 200:
                        return proc, base_url
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                last_error = f"no answer from {base_url} within {START_TIMEOUT_S:.0f} s"
        except BaseException:
            _stop(proc)
            raise
        _stop(proc)
        if "address already in use" not in log_path.read_text(errors="replace").lower():
            break
    pytest.fail(
        f"the server did not start: {last_error}\n--- server log ---\n"
        f"{log_path.read_text(errors='replace')[-4000:]}"
    )


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    seed = _seed(db_url)
    log_path = tmp_path / "uvicorn.log"
    proc, base_url = _start(db_url, log_path)
    try:
        yield LiveServer(
            base_url=base_url,
            db_url=db_url,
            pid=proc.pid,
            log_path=log_path,
            study_id=STUDY_ID,
            site_id=seed.site_id,
            other_site_id=seed.other_site_id,
            investigator=INVESTIGATOR[0],
            investigator_password=INVESTIGATOR[1],
            investigator_token=seed.investigator_token,
            officer=OFFICER[0],
            officer_password=OFFICER[1],
            officer_token=seed.officer_token,
            subject_id=seed.subject_id,
            usubjid=seed.usubjid,
            drug_keys=seed.drug_keys,
            officer2=OFFICER2[0],
            officer2_password=OFFICER2[1],
            admin=ADMIN[0],
            admin_password=ADMIN[1],
            dsmb=DSMB[0],
            dsmb_password=DSMB[1],
        )
    finally:
        _stop(proc)


# --- a real Chromium ---------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]  # fmt: skip
IMAGES_LOADED = "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
EAGER_IMAGES = (
    "() => document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need it "
            "(`make test` installs the Debian package `chromium`)",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
        except Exception as exc:  # a broken install must fail loudly, not skip
            pytest.fail(f"Chromium at {CHROMIUM} did not start: {exc}", pytrace=False)
        yield chromium
        chromium.close()


class Person:
    """One user's browser context, logged in; collects page errors and CSP violations."""

    def __init__(self, browser: Browser, live: LiveServer, username: str, password: str):
        self.context = browser.new_context(
            base_url=live.base_url, viewport={"width": 1360, "height": 900}, accept_downloads=True
        )
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("console", self._console)
        self.page.goto("/login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(re.compile(r"/$"))

    def _console(self, msg: Any) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.problems.append(f"console: {msg.text}")

    def shot(self, path: Path) -> None:
        # A full-page shot shows lazy images too: load them now (below the viewport they
        # would wait to be scrolled to, and the wait below would never end).
        self.page.evaluate(EAGER_IMAGES)
        self.page.wait_for_function(IMAGES_LOADED)
        self.page.screenshot(path=str(path), full_page=True)
