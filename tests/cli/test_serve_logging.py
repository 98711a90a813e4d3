"""`pvtracker serve` logs one line per request only when asked (issue 17 point 3): the access
log is off by default (a proxy in front logs requests), on with PV_ACCESS_LOG=true or
`--access-log`, and the flag wins over the setting either way; PV_LOG_LEVEL is uvicorn's
level."""

from __future__ import annotations

from typing import Any

import pytest

from pv.cli import build_parser
from pv.settings import get_settings
from pv.web import cli as web_cli


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    get_settings.cache_clear()
    yield calls
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        ({}, [], False),
        ({"PV_ACCESS_LOG": "true"}, [], True),
        ({"PV_ACCESS_LOG": "true"}, ["--no-access-log"], False),
        ({}, ["--access-log"], True),
    ],
)
def test_the_access_log_follows_the_setting_and_the_flag(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str], argv: list[str], expected: bool,
) -> None:  # fmt: skip
    monkeypatch.delenv("PV_ACCESS_LOG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    args = build_parser().parse_args(["serve", *argv])
    web_cli.run_server(args.host, args.port, args.workers, access_log=args.access_log)
    [call] = uvicorn_calls
    assert call["app"] == "pv.web.asgi:app" and call["access_log"] is expected
    assert call["log_level"] == "info" and call["host"] == "127.0.0.1"


def test_the_log_level_is_the_setting(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PV_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    web_cli.run_server("127.0.0.1", 8000)
    assert uvicorn_calls[0]["log_level"] == "warning"
