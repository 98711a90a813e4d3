"""Study, arms, study drugs, sites and subjects."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow


class Study(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    nct_id: str | None = Field(default=None, index=True, unique=True, max_length=16)
    title: str
    official_title: str | None = None
    sponsor: str | None = None
    phase: str | None = None
    overall_status: str | None = None
    study_type: str | None = None
    allocation: str | None = None
    masking: str | None = None
    enrollment: int | None = None
    start_date: str | None = None
    completion_date: str | None = None
    min_age_years: float | None = None
    max_age_years: float | None = None
    sex: str | None = None
    brief_summary: str | None = None
    # The conditions studied (ClinicalTrials.gov conditionsModule, "; "-joined): the
    # indication of the study drugs in expedited reports (CIOMS 17, E2B G.k.7.r.1).
    conditions: str | None = None
    source: str = "ctgov"  # ctgov | sdtm
    # Default interface language of the study's site users (en, zh-Hans).
    language: str = Field(default="en", max_length=16, sa_column_kwargs={"server_default": "en"})
    # Blinded (masked) study: users without User.unblinded never see an arm. Taken from
    # the ClinicalTrials.gov masking at import (NONE = open label); NCT04660565 is open.
    blinded: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # The DSMB charter allows patient-level listings in the open-session workbook.
    dsmb_open_listings: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime = Field(default_factory=utcnow)


class Arm(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("study_id", "label"),)
    id: int | None = Field(default=None, primary_key=True)
    study_id: str = Field(foreign_key="study.id", index=True)
    label: str
    code: str = Field(max_length=40)  # ARMCD
    arm_type: str | None = None
    description: str | None = None
    is_control: bool = False
    position: int = 0


class Drug(SQLModel, table=True):
    """A study drug (ClinicalTrials.gov intervention); causality is assessed per drug."""

    __table_args__ = (UniqueConstraint("study_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    study_id: str = Field(foreign_key="study.id", index=True)
    name: str
    key: str = Field(max_length=40)  # lower-case key used in aerel/aeacn objects
    intervention_type: str | None = None
    description: str | None = None
    other_names: str | None = None


class ArmDrug(SQLModel, table=True):
    arm_id: int = Field(foreign_key="arm.id", primary_key=True)
    drug_id: int = Field(foreign_key="drug.id", primary_key=True)


class Site(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("study_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    study_id: str = Field(foreign_key="study.id", index=True)
    code: str = Field(max_length=40)
    name: str
    city: str | None = None
    country: str | None = None


class Subject(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("study_id", "usubjid"),)
    id: int | None = Field(default=None, primary_key=True)
    study_id: str = Field(foreign_key="study.id", index=True)
    site_id: int = Field(foreign_key="site.id", index=True)
    usubjid: str = Field(max_length=80)
    subjid: str = Field(max_length=40)
    arm_id: int | None = Field(default=None, foreign_key="arm.id", index=True)
    sex: str | None = Field(default=None, max_length=1)
    age: int | None = None
    weight_kg: float | None = None
    consent_date: date | None = None
    randomization_date: date | None = None
    end_of_study_date: date | None = None  # end of study: DM RFPENDTC, else RFENDTC
    # Baseline (DM RACE; VS HEIGHT at baseline): the demographics table (DMT01) and BMI.
    race: str | None = Field(default=None, max_length=60)
    height_cm: float | None = None
    # Death (DM DTHFL / DTHDTC, partial dates allowed; DD or CRF "primary cause of death").
    died: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    death_date: str | None = Field(default=None, max_length=20)
    death_cause: str | None = None
    # Disposition (DS, the disposition event): DSDECOD (COMPLETED, ADVERSE EVENT, DEATH,
    # WITHDRAWAL BY SUBJECT, ...), its date DSSTDTC and the verbatim reason DSTERM. None
    # while the subject is still in the study.
    disposition: str | None = Field(default=None, max_length=60)
    disposition_date: str | None = Field(default=None, max_length=20)
    disposition_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
