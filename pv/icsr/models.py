"""Tables of expedited reporting (issue 16).

- `SaeCase`: the SAE case data of one serious event beyond the event record itself
  (reporter, hospitalization, medical history, concomitant medications, tests,
  dechallenge / rechallenge per study drug, death details). One row per event, its own
  version; every save is an audit entry (entity "sae_case", id = the event id).
- `ReportVersion`: one version of the event's expedited report, the case frozen as a
  JSON snapshot (`pv.icsr.case.case_to_json`). Number 1 is the initial report, 2, 3 ...
  the follow-ups; `changes` says what changed since the version before. A version with
  no submission that still stands (none, or every one rejected) may be refreshed; once a
  submission stands it is the report as sent, never changed again.
- `Submission`: one sending of a report version to one recipient, with the file sent
  (bytes and SHA-256), signed "approved" by the officer, and for E2B the parsed
  acknowledgement (MCCI_IN200101UV01). A submission to a regulator answers one
  expedited-report clock (`expedited_report_id`) and closes it; a rejected ACK reopens it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow

# E2B(R3) C.2.r.4 qualification of the primary source.
QUALIFICATIONS = {
    "1": "physician",
    "2": "pharmacist",
    "3": "other health professional",
    "4": "lawyer",
    "5": "consumer or other non health professional",
}
# CIOMS I box 20 "did reaction abate after stopping drug?" and box 21 "did reaction
# reappear after reintroduction?": yes, no, not applicable (not stopped / not
# reintroduced), unknown (the site does not know). E2B G.k.9.i.4 (recurrence on
# re-administration): yes -> 1, no -> 2, na -> 4; unknown is not sent (code 3 means a
# rechallenge was done with an unknown outcome, which is not what "unknown" says).
CHALLENGE_RESULTS = ("yes", "no", "na", "unknown")
AUTOPSY = ("Y", "N", "U")  # autopsy done: yes, no, unknown (E2B D.9.3)


class RecipientKind(StrEnum):
    regulator = "regulator"
    ethics = "ethics"  # an ethics committee / IRB
    investigator = "investigator"  # the trial's investigators


class Channel(StrEnum):
    gateway = "gateway"  # an E2B gateway (EudraVigilance, FAERS ESG, NMPA)
    portal = "portal"  # a web form of the recipient
    email = "email"
    post = "post"
    fax = "fax"


class ReportFormat(StrEnum):
    e2b = "e2b"
    cioms = "cioms"  # the CIOMS I PDF (English labels)
    cioms_zh = "cioms_zh"  # the CIOMS I PDF with Chinese labels


class AckOutcome(StrEnum):
    accepted = "accepted"
    accepted_with_errors = "accepted_with_errors"
    rejected = "rejected"


class SaeCase(SQLModel, table=True):
    __tablename__ = "sae_case"
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="adverseevent.id", unique=True)
    study_id: str = Field(foreign_key="study.id", index=True, max_length=64)
    version: int = 1
    reporter_name: str | None = Field(default=None, max_length=200)
    reporter_qualification: str | None = Field(default=None, max_length=1)  # QUALIFICATIONS
    reporter_country: str | None = Field(default=None, max_length=2)  # ISO 3166-1 alpha-2
    reporter_contact: str | None = Field(default=None, max_length=200)  # phone or e-mail
    hosp_admit_date: str | None = Field(default=None, max_length=20)  # ISO 8601, partial ok
    hosp_discharge_date: str | None = Field(default=None, max_length=20)
    death_date: str | None = Field(default=None, max_length=20)
    death_cause: str | None = None  # the reported cause (E2B D.9.2.r)
    autopsy: str | None = Field(default=None, max_length=1)  # AUTOPSY
    autopsy_cause: str | None = None  # the autopsy-determined cause (D.9.4.r)
    # [{"term", "start", "ongoing"}], start ISO 8601 partial ok, ongoing true/false/null
    medical_history: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # [{"name", "dose", "unit", "route", "start", "stop", "indication"}]; dose a number
    conmeds: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # [{"name", "date", "value", "unit", "low", "high"}]; value, low, high as written
    tests: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # {drug_key: CHALLENGE_RESULTS}
    dechallenge: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    rechallenge: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    updated_by: int | None = Field(default=None, foreign_key="user.id")
    updated_by_name: str = Field(default="", max_length=80)
    updated_at: datetime = Field(default_factory=utcnow)


class ReportVersion(SQLModel, table=True):
    __tablename__ = "report_version"
    __table_args__ = (UniqueConstraint("event_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="adverseevent.id", index=True)
    study_id: str = Field(foreign_key="study.id", max_length=64)
    number: int  # 1 initial, 2.. follow-ups
    snapshot: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # case_to_json
    # [{"field": dotted path, "old": ..., "new": ...}] against the version before
    changes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    note: str | None = None  # the officer's summary of what is new
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_by_name: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    refreshed_at: datetime | None = None  # last re-freeze before anything was sent


class Submission(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    report_version_id: int = Field(foreign_key="report_version.id", index=True)
    event_id: int = Field(foreign_key="adverseevent.id", index=True)
    study_id: str = Field(foreign_key="study.id", max_length=64)
    expedited_report_id: int | None = Field(default=None, foreign_key="expeditedreport.id")
    recipient_kind: str = Field(max_length=20)  # RecipientKind
    recipient: str = Field(max_length=200)  # e.g. "NMPA Center for Drug Evaluation"
    channel: str = Field(max_length=20)  # Channel
    format: str = Field(max_length=10)  # ReportFormat
    sent_date: date
    file_name: str = Field(max_length=200)
    file_sha256: str = Field(max_length=64)
    file: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    recorded_by: int | None = Field(default=None, foreign_key="user.id")
    recorded_by_name: str = Field(max_length=80)
    recorded_at: datetime = Field(default_factory=utcnow)
    # the acknowledgement (E2B only)
    ack_code: str | None = Field(default=None, max_length=2)  # AA AE AR / CA CR as sent
    ack_outcome: str | None = Field(default=None, max_length=24)  # AckOutcome
    ack_message: str | None = None  # the receiver's error / warning text
    ack_received_at: datetime | None = None
    ack_file: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    ack_sha256: str | None = Field(default=None, max_length=64)
