"""Versioned terminology releases (CTCAE, optionally a licensed MedDRA) and their terms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow


class TerminologyRelease(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40)  # CTCAE | MedDRA
    version: str = Field(max_length=40)
    source: str | None = None
    term_count: int = 0
    loaded_at: datetime = Field(default_factory=utcnow)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


class Term(SQLModel, table=True):
    """One codable term. CTCAE: a MedDRA LLT with grade texts. MedDRA: an LLT linked to PT/SOC."""

    __table_args__ = (UniqueConstraint("release_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="terminologyrelease.id", index=True)
    code: str = Field(max_length=20)
    term: str
    soc: str
    definition: str | None = None
    navigational_note: str | None = None
    # Grade texts; None where the release prints "-" (the grade does not exist).
    grade_1: str | None = None
    grade_2: str | None = None
    grade_3: str | None = None
    grade_4: str | None = None
    grade_5: str | None = None
    # MedDRA hierarchy (only for MedDRA releases).
    pt_code: str | None = None
    pt_term: str | None = None
    hlt_term: str | None = None
    hlgt_term: str | None = None
    soc_code: str | None = None
    current: bool = True

    def grade_text(self, grade: int) -> str | None:
        return getattr(self, f"grade_{grade}", None) if 1 <= grade <= 5 else None

    @property
    def allowed_grades(self) -> list[int]:
        return [g for g in range(1, 6) if self.grade_text(g) is not None]

    @property
    def graded(self) -> bool:
        return any(self.grade_text(g) is not None for g in range(1, 6))
