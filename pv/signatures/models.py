"""A signature: who signed which version of which record, when, and what it means."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow


class Signature(SQLModel, table=True):
    """Part 11 §11.50: the printed name of the signer, the date and time (UTC) and the
    meaning. §11.70: the signature is linked to its record through the digest of the record
    version signed, so it is shown as invalid for any other version."""

    __table_args__ = (Index("ix_signature_entity", "entity_type", "entity_id"),)
    id: int | None = Field(default=None, primary_key=True)
    study_id: str | None = Field(default=None, max_length=64)
    entity_type: str = Field(max_length=40)  # adverseevent | expeditedreport | subject
    entity_id: str = Field(max_length=80)
    record_version: int | None = None
    record_digest: str = Field(max_length=64)
    meaning: str = Field(max_length=40)  # assessed | locked | unlocked | approved | unblinded
    user_id: int = Field(foreign_key="user.id")
    username: str = Field(max_length=80)
    signer_name: str = Field(max_length=200)  # the printed name (full name, else user name)
    at: datetime = Field(default_factory=utcnow)
    reason: str | None = None


class SubjectUnblinding(SQLModel, table=True):
    """One subject's arm revealed to one user in a blinded study (e.g. to report a SUSAR)."""

    __tablename__ = "subject_unblinding"
    id: int | None = Field(default=None, primary_key=True)
    study_id: str = Field(foreign_key="study.id", max_length=64)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    user_id: int = Field(foreign_key="user.id")
    reason: str
    signature_id: int = Field(foreign_key="signature.id")
    at: datetime = Field(default_factory=utcnow)
