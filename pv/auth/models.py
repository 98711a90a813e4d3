"""Users, their sites, browser sessions and personal API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from pv.timeutil import utcnow


class Role(StrEnum):
    investigator = "investigator"
    officer = "officer"
    dsmb = "dsmb"
    admin = "admin"


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, unique=True, index=True)
    password_hash: str | None = None
    role: str = Field(max_length=20)
    full_name: str | None = None
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    # The interface language the user chose (en, zh-Hans); None follows the browser.
    language: str | None = Field(default=None, max_length=16)
    # Where the user's notifications are e-mailed (pv.notify); None: in-app only.
    email: str | None = Field(default=None, max_length=254)


class UserSite(SQLModel, table=True):
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    site_id: int = Field(foreign_key="site.id", primary_key=True)


class UserSession(SQLModel, table=True):
    """A browser session; the cookie holds a random id, the table only its SHA-256."""

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked: bool = False
