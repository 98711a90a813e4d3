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
    # Set when log-in failures lock the account (pv/auth/throttle.py); an admin lifts it.
    locked_at: datetime | None = None
    # May see treatment arms in blinded studies (issue 13: blinding). Open-label studies
    # show arms to every role that sees them.
    unblinded: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


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
    label: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None  # None only for tokens made before expiry existed
    last_used_at: datetime | None = None
    revoked: bool = False
    revoked_at: datetime | None = None


class LoginFailure(SQLModel, table=True):
    """A failed log-in, for throttling (pv/auth/throttle.py). The typed user name of an
    unknown account is never stored: only the account's id when it exists, and the client
    address. Old rows are pruned, so the table stays bounded."""

    __tablename__ = "login_failure"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    user_id: int | None = Field(default=None, index=True)
    address: str | None = Field(default=None, max_length=64, index=True)
