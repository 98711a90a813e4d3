"""The adverse-event record, shaped after the SDTM AE domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow


class Status(StrEnum):
    draft = "draft"
    submitted = "submitted"
    under_review = "under_review"
    queried = "queried"
    answered = "answered"
    assessed = "assessed"
    locked = "locked"


# SDTM controlled terminology for AEOUT (C66768).
OUTCOMES = (
    "RECOVERED/RESOLVED",
    "RECOVERING/RESOLVING",
    "NOT RECOVERED/NOT RESOLVED",
    "RECOVERED/RESOLVED WITH SEQUELAE",
    "FATAL",
    "UNKNOWN",
)
# Investigator's causality per drug (domain.md §4, the common four-point scale).
RELATIONSHIPS = ("RELATED", "POSSIBLY RELATED", "UNLIKELY RELATED", "NOT RELATED")
RELATED_VALUES = frozenset({"RELATED", "POSSIBLY RELATED", "Y", "PROBABLE", "POSSIBLE", "CERTAIN"})
# SDTM controlled terminology for AEACN (C66767).
ACTIONS = (
    "DOSE NOT CHANGED",
    "DOSE REDUCED",
    "DOSE INCREASED",
    "DRUG INTERRUPTED",
    "DRUG WITHDRAWN",
    "NOT APPLICABLE",
    "UNKNOWN",
)
SERIOUS_CRITERIA = ("aesdth", "aeslife", "aeshosp", "aesdisab", "aescong", "aesmie")
CRITERIA_LABELS = {
    "aesdth": "Results in death",
    "aeslife": "Life-threatening",
    "aeshosp": "Requires or prolongs hospitalization",
    "aesdisab": "Persistent or significant disability/incapacity",
    "aescong": "Congenital anomaly/birth defect",
    "aesmie": "Other medically important event",
}


class AdverseEvent(SQLModel, table=True):
    __table_args__ = (
        # The review queue (pv/review/queue.py): one index range per status, newest first,
        # also within one site or one seriousness. The trailing columns are the queue's
        # other filters: tested on the index entries, so only the rows shown are read.
        Index(
            "ix_ae_queue",
            "study_id",
            "status",
            "updated_at",
            "id",
            "site_id",
            "aeser",
            "aetoxgr",
            "aesi",
        ),
        Index(
            "ix_ae_queue_site",
            "study_id",
            "site_id",
            "status",
            "updated_at",
            "id",
            "aeser",
            "aetoxgr",
            "aesi",
        ),
        Index(
            "ix_ae_queue_serious",
            "study_id",
            "aeser",
            "status",
            "updated_at",
            "id",
            "site_id",
            "aetoxgr",
            "aesi",
        ),
        # The queue's tier 1 keys (serious, not yet assessed, oldest receipt first: receipt is
        # submitted_at, else created_at), read whole per worker: index-only (migration 0012).
        Index(
            "ix_ae_queue_receipt",
            "study_id",
            "aeser",
            "status",
            "submitted_at",
            "created_at",
            "id",
            "site_id",
            "aetoxgr",
            "aesi",
        ),
        # The home page's latest changes, newest first (optionally within the user's sites).
        Index("ix_ae_updated", "updated_at", "site_id", "status"),
        UniqueConstraint("subject_id", "aeseq"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # Indexed through the review queue's (study_id, ...) indexes and the unique
    # (subject_id, aeseq): separate single-column indexes would only slow inserts down.
    study_id: str = Field(foreign_key="study.id")
    subject_id: int = Field(foreign_key="subject.id")
    site_id: int = Field(foreign_key="site.id")  # copied from the subject: scoping and filters
    aeseq: int  # sequence within the subject (SDTM AESEQ)
    status: str = Field(default=Status.draft, max_length=20)
    version: int = 1
    # What the investigator wrote, and how it is coded.
    aeterm: str
    # English translation of a verbatim term written in another language (E2B E.i.1.2).
    aeterm_en: str | None = None
    term_id: int | None = Field(default=None, foreign_key="term.id")
    aelltcd: str | None = Field(default=None, max_length=20)
    aedecod: str | None = None
    aebodsys: str | None = None
    terminology: str | None = Field(default=None, max_length=60)  # e.g. "CTCAE 5.0"
    aetoxgr: int | None = None
    aesev: str | None = Field(default=None, max_length=20)  # MILD/MODERATE/SEVERE (imports)
    aeser: bool | None = None  # None: not answered yet (a draft)
    aesdth: bool = False
    aeslife: bool = False
    aeshosp: bool = False
    aesdisab: bool = False
    aescong: bool = False
    aesmie: bool = False
    aerel: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    aeacn: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    related: bool = False  # derived: related to any study drug (investigator)
    drug_withdrawn: bool = False  # derived: any study drug withdrawn
    aeout: str | None = Field(default=None, max_length=40)
    aestdtc: str | None = Field(default=None, max_length=20)  # ISO 8601, partial allowed
    # When the site became aware of the event (ISO 8601 date or date-time, as entered): the
    # site's 24-hour SAE clock runs from it.
    aeawaredtc: str | None = Field(default=None, max_length=20)
    aeendtc: str | None = Field(default=None, max_length=20)
    ongoing: bool = False
    aecontrt: str | None = None
    narrative: str | None = None
    aesi: str = ""  # derived: comma-separated AESI grouping keys
    # A condition present before the first dose that worsened after it.
    preexisting: bool = False
    worsened_dtc: str | None = Field(default=None, max_length=20)
    # Grade of a pre-existing condition at the first dose (SDTM AEITOXGR, a SUPPAE QNAM):
    # a later grade above it is a worsening (admiral derive_var_trtemfl initial_intensity).
    initial_grade: int | None = None
    # Records of one episode collected as a log (SDTM AEGRPID, else AESPID): a later record
    # of the group with a higher grade is a worsening (admiral's group_var).
    aegrpid: str | None = Field(default=None, max_length=40)
    aespid: str | None = Field(default=None, max_length=40)
    # SUPPAE AETRTEM as supplied by an external study (Y/N), kept for cross-checks.
    sponsor_te_flag: str | None = Field(default=None, max_length=1)
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None

    def criteria(self) -> list[str]:
        return [c for c in SERIOUS_CRITERIA if getattr(self, c)]
