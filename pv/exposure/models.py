"""Dosing records: one row per infusion, or per period of a constant daily dose."""

from __future__ import annotations

from pydantic import NaiveDatetime
from sqlmodel import Field, SQLModel


class Exposure(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    drug_id: int = Field(foreign_key="drug.id", index=True)
    dose: float  # as prescribed, in `unit`
    unit: str = Field(max_length=20)  # mg, mg/kg, mg/day ...
    dose_mg: float  # converted to mg (per administration, or per day for daily doses)
    route: str | None = Field(default=None, max_length=40)
    # ONCE: a single administration (an infusion) at `start`, ending at `end` if known.
    # QD: a daily dose from the date of `start` to the date of `end`, both inclusive.
    frequency: str = Field(default="ONCE", max_length=10)
    start: NaiveDatetime
    end: NaiveDatetime | None = None
