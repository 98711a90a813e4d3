"""Load a licensed MedDRA ASCII release ($-separated .asc files): LLT -> PT -> HLT -> HLGT -> SOC.

MedDRA is licensed by the MSSO: no MedDRA file is ever shipped or committed. Each LLT
becomes a Term linked to its PT and to the PT's primary SOC (mdhier.asc).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import select

from pv.db import write_session
from pv.terminology.models import Term, TerminologyRelease

MEDDRA = "MedDRA"
REQUIRED = ("llt.asc", "pt.asc", "hlt.asc", "hlgt.asc", "soc.asc", "mdhier.asc")


class MeddraError(ValueError):
    pass


def _rows(path: Path, min_fields: int) -> list[list[str]]:
    out = []
    with path.open(encoding="utf-8", errors="strict") as fh:
        for n, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("$")
            if len(fields) < min_fields:
                raise MeddraError(
                    f"{path.name} line {n}: expected at least {min_fields} "
                    f"$-separated fields, found {len(fields)}"
                )
            out.append(fields)
    return out


def read_release_version(directory: Path) -> str | None:
    release = directory / "meddra_release.asc"
    if release.exists():
        first = release.read_text(encoding="utf-8").split("$")[0].strip()
        return first or None
    return None


def load_meddra(engine: Engine, directory: Path, version: str | None = None) -> tuple[int, int]:
    """Load the release in `directory`; returns (release id, number of LLTs)."""
    missing = [f for f in REQUIRED if not (directory / f).exists()]
    if missing:
        raise MeddraError(f"{directory}: missing {', '.join(missing)}")
    version = version or read_release_version(directory)
    if not version:
        raise MeddraError("give --version (no meddra_release.asc in the folder)")
    socs = {r[0]: r[1] for r in _rows(directory / "soc.asc", 2)}
    pts = {r[0]: (r[1], r[3]) for r in _rows(directory / "pt.asc", 4)}
    hier: dict[str, tuple[str, str, str, str]] = {}
    for r in _rows(directory / "mdhier.asc", 12):
        pt, primary = r[0], r[11].strip().upper() == "Y"
        if primary or pt not in hier:
            hier[pt] = (r[5], r[6], r[3], r[7])  # hlt name, hlgt name, soc code, soc name
    llts = _rows(directory / "llt.asc", 3)
    terms = []
    for r in llts:
        code, name, pt_code = r[0], r[1], r[2]
        if pt_code not in pts:
            raise MeddraError(f"llt.asc: LLT {code} points at PT {pt_code}, which pt.asc lacks")
        pt_name, pt_soc = pts[pt_code]
        hlt, hlgt, soc_code, soc_name = hier.get(pt_code, ("", "", pt_soc, socs.get(pt_soc, "")))
        terms.append(
            {
                "code": code,
                "term": name,
                "pt_code": pt_code,
                "pt_term": pt_name,
                "hlt_term": hlt or None,
                "hlgt_term": hlgt or None,
                "soc_code": soc_code,
                "soc": soc_name or socs.get(soc_code, ""),
                "current": (r[9].strip().upper() != "N") if len(r) > 9 else True,
            }
        )
    with write_session(engine) as session:
        if session.exec(
            select(TerminologyRelease).where(
                TerminologyRelease.name == MEDDRA, TerminologyRelease.version == version
            )
        ).first():
            raise MeddraError(f"MedDRA {version} is already loaded")
        release = TerminologyRelease(
            name=MEDDRA, version=version, source=str(directory.name), term_count=len(terms)
        )
        session.add(release)
        session.flush()
        if terms:
            session.execute(insert(Term), [{**t, "release_id": release.id} for t in terms])
        return int(release.id), len(terms)  # type: ignore[arg-type]
