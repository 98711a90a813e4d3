"""Load the shipped NCI CTCAE v5.0 CSV as a versioned terminology release."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import select

from pv import paths
from pv.db import write_session
from pv.terminology.models import Term, TerminologyRelease

CTCAE = "CTCAE"
CTCAE_VERSION = "5.0"
NOT_A_GRADE = "-"


def _grade(text: str) -> str | None:
    text = (text or "").strip()
    return None if text in ("", NOT_A_GRADE) else text


def read_ctcae_csv(path: Path) -> list[dict[str, str | None]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = []
        for raw in csv.DictReader(fh):
            rows.append(
                {
                    "code": raw["meddra_code"].strip(),
                    "term": raw["term"].strip(),
                    "soc": raw["soc"].strip(),
                    "definition": (raw.get("definition") or "").strip() or None,
                    "navigational_note": (raw.get("navigational_note") or "").strip() or None,
                    **{f"grade_{g}": _grade(raw[f"grade_{g}"]) for g in range(1, 6)},
                }
            )
    return rows


def load_ctcae(engine: Engine, path: Path | None = None, version: str = CTCAE_VERSION) -> int:
    """Load the release once; returns its id (an existing release is left as it is)."""
    path = path or paths.CTCAE_V5_CSV
    with write_session(engine) as session:
        existing = session.exec(
            select(TerminologyRelease).where(
                TerminologyRelease.name == CTCAE, TerminologyRelease.version == version
            )
        ).first()
        if existing is not None:
            return int(existing.id)  # type: ignore[arg-type]
        rows = read_ctcae_csv(path)
        release = TerminologyRelease(
            name=CTCAE, version=version, source=path.name, term_count=len(rows)
        )
        session.add(release)
        session.flush()
        session.execute(insert(Term), [{**r, "release_id": release.id} for r in rows])
        return int(release.id)  # type: ignore[arg-type]
