"""Configuration, read from the environment (prefix PV_) once per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PV_", extra="ignore")

    database_url: str = "sqlite:///./pv.sqlite"
    # Sessions: idle and absolute expiry (minutes).
    session_idle_minutes: int = 30
    session_absolute_minutes: int = 12 * 60
    # Cookies are marked Secure when the app is served over HTTPS (behind a proxy).
    secure_cookies: bool = False
    # Upload limits (spreadsheet import).
    upload_max_bytes: int = 20 * 1024 * 1024
    upload_max_unpacked_bytes: int = 200 * 1024 * 1024
    upload_max_rows: int = 200_000
    # Where an upload is read, checked and stored: "process" (a worker process per web
    # process) or "thread" (a thread of the web process); see pv/imports/jobs.py.
    upload_worker: Literal["process", "thread"] = "process"
    # The upload worker process's address-space cap (MiB; 0: none).
    upload_worker_memory_mb: int = 2048
    # Largest request body of any other route (forms, JSON API).
    max_body_bytes: int = 1024 * 1024
    # Treatment-emergence window after the last dose (days), used by analysis.
    teae_window_days: int = 30
    # Interface language when neither the user, the browser nor a study names one.
    default_language: str = "en"
    log_level: str = "INFO"
    # One log line per HTTP request (uvicorn's access log). Off by default: deployed, the app
    # sits behind a proxy that logs requests (and a line per request costs CPU on a busy
    # review queue); `pvtracker serve --access-log` or PV_ACCESS_LOG=true turns it on.
    access_log: bool = False
    # Notifications by e-mail (pv/notify): none of these set means in-app only.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "pv-tracker@localhost"
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 10.0
    # The address users open the app at, for links in e-mails (e.g. https://pv.example.org).
    base_url: str = ""
    # PostgreSQL: the URL of the role that owns the tables, used by `pvtracker db upgrade`
    # only; the app (PV_DATABASE_URL) runs as another role that cannot alter them
    # (docs/deployment.md). Empty: migrations run as PV_DATABASE_URL's role.
    database_owner_url: str = ""
    # Personal API tokens expire this many days after they are issued (issue 13).
    token_days: int = 90
    # A new log-in ends the user's other browser sessions (off: a user may work in two
    # browsers; sessions still end after session_idle_minutes / session_absolute_minutes,
    # on log-out, password change and disable).
    single_session: bool = False


@lru_cache
def get_settings() -> Settings:
    return Settings()
