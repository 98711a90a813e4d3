"""Running `pvtracker` in-process from tests: the one helper behind every file's `cli`
fixture (each fixture only prepares its own data)."""

from __future__ import annotations

import io

from pv.cli import main
from pv.db import _engines
from pv.settings import get_settings


class Commands:
    """`commands(*args, stdin=...)` runs one command on PV_DATABASE_URL and returns (exit
    status, stdout, stderr); `commands.at(url, *args, **env)` first points it at another
    database and sets environment variables. PV_ACTOR is unset unless a test sets it.
    `close()` disposes of every engine used (PostgreSQL drops the test databases next)."""

    def __init__(self, monkeypatch, capsys, url: str | None = None) -> None:  # type: ignore[no-untyped-def]
        self._monkeypatch, self._capsys = monkeypatch, capsys
        self._used: list[str] = []
        monkeypatch.delenv("PV_ACTOR", raising=False)
        if url is not None:
            self.use(url)

    def use(self, url: str) -> None:
        self._monkeypatch.setenv("PV_DATABASE_URL", url)
        get_settings.cache_clear()
        self._used.append(url)

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:  # else sys.stdin as the test left it
            self._monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(args))
        out = self._capsys.readouterr()
        return code, out.out, out.err

    def at(self, url: str, *args: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            self._monkeypatch.setenv(name, value)
        self.use(url)
        return self(*args)

    def close(self) -> None:
        get_settings.cache_clear()
        for url in self._used:
            engine = _engines.pop(url, None)
            if engine is not None:
                engine.dispose()
