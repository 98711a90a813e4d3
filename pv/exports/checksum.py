"""The data checksum printed on the DSMB workbook's cover.

Definition (version 1). Four sections, each the SHA-256 of its records, one record per
line, each line the compact JSON array of the record's values (UTF-8, keys of JSON
objects sorted, dates and date-times in ISO 8601, no surrogate database ids):

- study: [study id, NCT id, title], the data cut-off and the TEAE rule, then each arm
  [label, code, comparator flag] in display order and each drug [name, key];
- subjects: every subject of the study [usubjid, subjid, site code, arm label, arm code,
  sex, age, weight, consent, randomization and end-of-study dates], by usubjid;
- exposure: every dosing record starting on or before the cut-off [usubjid, drug name,
  dose, unit, dose in mg, route, frequency, start, end], by usubjid, drug, start;
- events: every adverse event in the report's scope (not a draft, analysis date on or
  before the cut-off) with its clinical fields (EVENT_FIELDS below), in listing order
  (site code, usubjid, onset as recorded, AESEQ; text compared byte-wise).

The checksum is the SHA-256 of the text "pv-tracker data v1\\n" followed by one line
"<section> <hex digest>" per section in the order above. It does not depend on the
session, the masking or the generation time: two workbooks of the same data and cut-off
carry the same checksum, and any change to the data in scope changes it. Audit fields
(status, version, who and when) are left out: a review step does not change the data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import col

from pv.analysis.data import StudyData
from pv.analysis.table import ArmInfo
from pv.study.models import Drug, Study

VERSION = "pv-tracker data v1"
SECTIONS = ("study", "subjects", "exposure", "events")
EVENT_FIELDS = (
    "aeseq",
    "aeterm",
    "aelltcd",
    "aedecod",
    "aebodsys",
    "terminology",
    "aetoxgr",
    "aesev",
    "aeser",
    "aesdth",
    "aeslife",
    "aeshosp",
    "aesdisab",
    "aescong",
    "aesmie",
    "aerel",
    "aeacn",
    "related",
    "drug_withdrawn",
    "aeout",
    "aestdtc",
    "aeendtc",
    "ongoing",
    "aecontrt",
    "narrative",
    "aesi",
    "preexisting",
    "worsened_dtc",
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot hash {type(value).__name__}")


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=_default
)


def line(values: Sequence[Any]) -> bytes:
    return _ENCODER.encode(list(values)).encode("utf-8") + b"\n"


class Checksum:
    def __init__(self) -> None:
        self._hashes = {s: hashlib.sha256() for s in SECTIONS}
        self.counts = dict.fromkeys(SECTIONS, 0)

    def add(self, section: str, values: Sequence[Any]) -> None:
        self._hashes[section].update(line(values))
        self.counts[section] += 1

    def hexdigest(self) -> str:
        text = VERSION + "\n" + "".join(f"{s} {self._hashes[s].hexdigest()}\n" for s in SECTIONS)
        return hashlib.sha256(text.encode("ascii")).hexdigest()


def text_order(conn: Connection, column: Any) -> Any:
    """Sort text byte-wise on every backend (PostgreSQL's default collation is a locale's)."""
    if conn.dialect.name == "postgresql":
        return sa.collate(column, "C")
    return column


def study_section(
    conn: Connection, checksum: Checksum, data: StudyData, arms: list[ArmInfo]
) -> None:
    """The study section: the study, the cut-off and TEAE rule, the arms and the drugs."""
    study_id = data.study_id
    study = conn.execute(
        sa.select(col(Study.id), col(Study.nct_id), col(Study.title)).where(
            col(Study.id) == study_id
        )
    ).one()
    checksum.add("study", list(study))
    checksum.add("study", ["cutoff", data.cutoff, "teae_rule", data.rule.as_dict()])
    for a in arms:
        checksum.add("study", [a.label, a.code, a.is_control])
    drugs = (
        sa.select(col(Drug.name), col(Drug.key))
        .where(col(Drug.study_id) == study_id)
        .order_by(text_order(conn, col(Drug.name)), text_order(conn, col(Drug.key)))
    )
    for name, key in conn.execute(drugs):
        checksum.add("study", [name, key])
