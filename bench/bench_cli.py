"""Start-up time of the command line (issue 17 point 2): `pvtracker --help` as a whole
process, min/median/max over ROUNDS runs, beside its floor measured in the same run: the
bare interpreter (`python -c pass`) and the interpreter importing only argparse. Target:
`pvtracker --help` <= 0.2 s.

    .venv/bin/python bench/bench_cli.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_S = 0.2


def _time(cmd: list[str], rounds: int) -> list[float]:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        out.append(time.perf_counter() - t)
    return out


def _row(name: str, times: list[float]) -> str:
    return (f"{name:<28} min {min(times):.3f} s  median {statistics.median(times):.3f} s  "
            f"max {max(times):.3f} s")  # fmt: skip


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    python = str(BIN / "python")
    floor = _time([python, "-c", "pass"], rounds)
    argparse_only = _time([python, "-c", "import argparse"], rounds)
    help_ = _time([str(BIN / "pvtracker"), "--help"], rounds)
    sub_help = _time([str(BIN / "pvtracker"), "tables", "--help"], rounds)
    print(f"command start-up, {rounds} rounds each")
    print(_row("python -c pass (floor)", floor))
    print(_row("python -c 'import argparse'", argparse_only))
    print(_row("pvtracker --help", help_))
    print(_row("pvtracker tables --help", sub_help))
    median = statistics.median(help_)
    verdict = "meets" if median <= TARGET_S else "MISSES"
    print(f"pvtracker --help median {median:.3f} s {verdict} the target <= {TARGET_S} s")
    return 0 if median <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
