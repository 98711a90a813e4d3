"""E-mail of notifications through SMTP (PV_SMTP_*; no PV_SMTP_HOST: in-app only).

Sending never happens inside the user's transaction and never fails the user's request:
after a commit the new rows are handed to one background thread (`send_soon`), and
`pvtracker notify` (cron) sends whatever is still unsent (`send_pending`).

Each row is claimed before it is sent (`emailed_at` set where it was empty, in a short
write transaction), so the background thread and a concurrent `pvtracker notify` never
send one notification twice; when the server refuses or cannot be reached the claim is
undone (`emailed_at` empty again) and the failure logged, for the next run to retry. A
process killed between the claim and the send loses that one e-mail (the in-app
notification stays). Rows older than MAX_AGE are left to the in-app list: configuring
SMTP later does not e-mail a backlog.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from pv import i18n
from pv.auth.models import User
from pv.db import read_session, write_session
from pv.i18n import gettext as _
from pv.notify.models import Notification
from pv.notify.service import render
from pv.settings import Settings, get_settings
from pv.study.models import Study
from pv.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_AGE = timedelta(days=3)
SUBJECT_PREFIX = "[pv-tracker] "

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    no_address: int = 0


def configured(settings: Settings | None = None) -> bool:
    return bool((settings or get_settings()).smtp_host.strip())


def send_soon(engine: Engine, ids: Sequence[int]) -> Future[SendResult] | None:
    """E-mail these notifications from a background thread (after the commit that wrote
    them); nothing when SMTP is not configured."""
    settings = get_settings()
    if not configured(settings) or not ids:
        return None
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pv-notify")
    return _executor.submit(_send_logged, engine, list(ids), settings)


def wait_idle(timeout: float = 30.0) -> None:
    """Wait until the background sender has sent what it was handed (tests, shutdown)."""
    if _executor is not None:
        _executor.submit(lambda: None).result(timeout=timeout)


def _send_logged(engine: Engine, ids: list[int], settings: Settings) -> SendResult:
    try:
        return send_pending(engine, settings=settings, ids=ids)
    except Exception:  # a background thread: log, never raise into nothing
        log.exception("notification e-mail failed; `pvtracker notify` will retry")
        return SendResult()


def _language(user: User, study: Study | None, settings: Settings) -> str:
    return (
        i18n.normalize(user.language)
        or (i18n.normalize(study.language) if study is not None else None)
        or i18n.normalize(settings.default_language)
        or i18n.DEFAULT
    )


def absolute(link: str, settings: Settings) -> str:
    base = settings.base_url.strip().rstrip("/")
    return f"{base}{link}" if base else link


def compose(n: Notification, user: User, settings: Settings, language: str) -> EmailMessage:
    """The e-mail of one notification, in `language`: the subject, the identifiers, the
    link; no narrative, no verbatim term, no query text."""
    with i18n.use(language):
        subject, text, link = render(n)
        body = "\n\n".join(
            (
                _("Hello %(name)s,", name=user.full_name or user.username),
                text,
                _("Open in pv-tracker: %(link)s", link=absolute(link, settings)),
                _(
                    "Your notifications: %(link)s", link=absolute("/notifications", settings)
                ),  # fmt: skip
            )
        )
    msg = EmailMessage()
    msg["Subject"] = SUBJECT_PREFIX + subject
    msg["From"] = settings.smtp_from
    msg["To"] = user.email
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="pv-tracker")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body + "\n")
    msg["Content-Language"] = language  # after set_content, which sets the content headers
    return msg


def _connect(settings: Settings) -> smtplib.SMTP:
    host, port = settings.smtp_host.strip(), settings.smtp_port
    timeout = settings.smtp_timeout_seconds
    if port == 465:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                              context=ssl.create_default_context())  # fmt: skip
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
    if settings.smtp_user:
        smtp.login(settings.smtp_user, settings.smtp_password)
    return smtp


def _claim(engine: Engine, ids: Sequence[int]) -> list[int]:
    """Mark these rows e-mailed where nobody has yet: the ids this sender now owns."""
    claimed = []
    now = utcnow()
    with write_session(engine) as session:
        for nid in ids:
            result = session.execute(
                update(Notification)
                .where(col(Notification.id) == nid, col(Notification.emailed_at).is_(None))
                .values(emailed_at=now)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(nid)
    return claimed


def _unclaim(engine: Engine, ids: Sequence[int]) -> None:
    if not ids:
        return
    with write_session(engine) as session:
        session.execute(
            update(Notification).where(col(Notification.id).in_(ids)).values(emailed_at=None)
        )


def send_pending(
    engine: Engine, *, settings: Settings | None = None, ids: Sequence[int] | None = None
) -> SendResult:
    """E-mail the unsent notifications (of `ids`, or all recent ones) to users who have an
    address. SMTP errors are logged and leave the rows unsent; never raises for them."""
    settings = settings or get_settings()
    result = SendResult()
    if not configured(settings):
        return result
    since = utcnow() - MAX_AGE
    with read_session(engine) as session:
        q = (
            select(Notification, User)
            .join(User, col(User.id) == Notification.user_id)
            .where(col(Notification.emailed_at).is_(None), col(User.disabled).is_(False))
            .where(col(Notification.created_at) >= since)
            .order_by(col(Notification.id))
        )
        if ids is not None:
            q = q.where(col(Notification.id).in_(list(ids)))
        rows = list(session.exec(q))
        studies = {s.id: s for s in session.exec(select(Study))}
        result.no_address = sum(1 for _n, u in rows if not (u.email or "").strip())
        rows = [(n, u) for n, u in rows if (u.email or "").strip()]
        messages: dict[int, EmailMessage] = {
            n.id: compose(n, u, settings, _language(u, studies.get(n.study_id or ""), settings))
            for n, u in rows
            if n.id is not None
        }
    if not messages:
        return result
    claimed = _claim(engine, list(messages))
    if not claimed:
        return result
    failed: list[int] = []
    try:
        smtp = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("SMTP server %s:%s unavailable (%s): %d notification e-mail(s) left for "
                    "`pvtracker notify`", settings.smtp_host, settings.smtp_port, exc,
                    len(claimed))  # fmt: skip
        _unclaim(engine, claimed)
        result.failed = len(claimed)
        return result
    try:
        for nid in claimed:
            try:
                smtp.send_message(messages[nid])
                result.sent += 1
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("notification %s: e-mail refused (%s); left for retry", nid, exc)
                failed.append(nid)
                if isinstance(exc, OSError | smtplib.SMTPServerDisconnected):
                    failed.extend(i for i in claimed[claimed.index(nid) + 1 :])
                    break
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
    _unclaim(engine, failed)
    result.failed = len(failed)
    return result
