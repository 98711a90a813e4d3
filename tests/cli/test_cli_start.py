"""`pvtracker --help` starts at once (issue 17 point 2): building the command tree imports no
ORM, web framework or data library; each command imports what it needs when it runs. Time is
measured by bench/bench_cli.py (no timed unit test); this checks the cause, in a fresh
interpreter: which modules the parser needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pv.auth.cli import ROLES
from pv.auth.models import Role

HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "fastapi", "pandas", "numpy", "openpyxl")
PROBE = """
import json, sys
sys.argv = ["pvtracker", *sys.argv[1:]]
import pv.cli
try:
    pv.cli.main()
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _loaded(*argv: str, env: dict[str, str] | None = None) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                         check=True, env=env).stdout  # fmt: skip
    return set(json.loads(out.strip().splitlines()[-1]))


def test_the_help_of_every_level_imports_nothing_heavy() -> None:
    for argv in (["--help"], ["user", "add", "--help"], ["report", "cioms", "--help"],
                 ["tables", "--help"], ["dsur", "--help"]):  # fmt: skip
        heavy = _loaded(*argv) & set(HEAVY)
        assert not heavy, (argv, heavy)


def test_a_command_still_imports_what_it_needs(tmp_path: Path) -> None:
    env = {**os.environ, "PV_DATABASE_URL": f"sqlite:///{tmp_path / 'status.sqlite'}"}
    assert {"sqlalchemy", "sqlmodel"} <= _loaded("status", env=env)  # it reads the database


def test_the_user_command_offers_the_roles_of_the_model() -> None:
    assert tuple(Role.__members__) == ROLES
