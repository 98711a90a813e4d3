"""Start-up time of the command line (issue 17 point 2).

    .venv/bin/python bench/bench_cli.py [--rounds 7] [--db FILE] [--tables-rounds 3]

1. `pvtracker --help` as a whole process, min/median/max over the rounds, beside its floor
   measured in the same run: the bare interpreter (`python -c pass`) and the interpreter
   importing only argparse. Target: `pvtracker --help` <= 0.2 s.
2. `pvtracker tables --study BENCH01 --table all --out FILE` on bench_tables.py's study
   (10,000 subjects, 1,000,000 AEs; built in a temporary file, or kept with `--db`), as a
   whole process, beside the same command run in-process: a fresh process imports
   everything first, then times `pv.cli.main([...])` alone (the tables, rendering and
   writing, with no interpreter start or imports). Rounds alternate the two. Target: the
   whole process <= 1.5x the in-process time (medians).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
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


TABLES_RATIO = 1.5
TABLES_ARGS = ["tables", "--study", "BENCH01", "--table", "all"]


def _in_process(out: str) -> None:
    """Child: warm every import the command uses, then time the command alone."""
    import pv.analysis.api
    import pv.analysis.render
    import pv.blinding.policy  # noqa: F401
    from pv import cli

    t = time.perf_counter()
    code = cli.main([*TABLES_ARGS, "--out", out])
    print(f"{time.perf_counter() - t:.6f} {code}")


def _tables(db: Path, rounds: int) -> tuple[list[float], list[float]]:
    import os

    env = {**os.environ, "PV_DATABASE_URL": f"sqlite:///{db}"}
    out = str(db.with_suffix(".tables.txt"))
    whole, inside = [], []
    command = [str(BIN / "pvtracker"), *TABLES_ARGS, "--out", out]
    subprocess.run(command, env=env, capture_output=True, check=True)  # warm the file cache
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        whole.append(time.perf_counter() - t)
        child = subprocess.run(
            [str(BIN / "python"), __file__, "--in-process", out],
            env=env, capture_output=True, check=True, text=True,
        )  # fmt: skip
        seconds, code = child.stdout.split()[-2:]
        assert code == "0", child.stderr
        inside.append(float(seconds))
    return whole, inside


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tables-rounds", type=int, default=3)
    parser.add_argument("--db", help="bench_tables.py's SQLite file (built if missing, kept)")
    parser.add_argument("--in-process", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        _in_process(args.in_process)
        return 0
    rounds = args.rounds
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
    ok = median <= TARGET_S
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "bench_tables.sqlite"
        if not db.exists():
            sys.path.insert(0, str(Path(__file__).parent))
            from bench_tables import build

            print(f"building {db} (bench_tables.py's study) ...", flush=True)
            build(db)
        whole, inside = _tables(db, args.tables_rounds)
    print(f"pvtracker tables --table all, 10^6 AEs, {args.tables_rounds} rounds each")
    print(_row("whole process", whole))
    print(_row("in-process (floor)", inside))
    ratio = statistics.median(whole) / statistics.median(inside)
    verdict = "meets" if ratio <= TABLES_RATIO else "MISSES"
    print(f"whole / in-process {ratio:.2f}x {verdict} the target <= {TABLES_RATIO}x")
    return 0 if ok and ratio <= TABLES_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
