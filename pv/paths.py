"""Where the data folders live, in a source checkout and in an installed wheel.

The repository keeps `templates/`, `terminologies/` and `migrations/` at its top
level; the wheel carries copies under `pv/_data/` (see pyproject.toml). Every
lookup goes through here so the two layouts behave the same.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
_INSTALLED = _PKG / "_data"
_REPO = _PKG.parent


def _find(name: str, repo_relative: str | None = None) -> Path:
    installed = _INSTALLED / name
    if installed.exists():
        return installed
    return _REPO / (repo_relative or name)


TEMPLATES = _find("templates")
TERMINOLOGIES = _find("terminologies")
MIGRATIONS = _find("migrations")
VENDOR = _find("vendor", "node_modules/htmx.org/dist")
SWAGGER_UI = _find("vendor/swagger-ui", "node_modules/swagger-ui-dist")
STATIC = _PKG / "static"
CTCAE_V5_CSV = TERMINOLOGIES / "ctcae" / "5.0" / "ctcae_v5.csv"
AESI_DIR = TERMINOLOGIES / "aesi"
