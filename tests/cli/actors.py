"""Users that commands act as (issue 13, attributed commands).

A data-changing command names an active user with the right role (`--as USERNAME` or
PV_ACTOR). Tests that call such commands seed one with `seed_user` (an admin by default)
and set PV_ACTOR, or pass --as.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import select

from pv.audit.service import Actor
from pv.auth.models import User
from pv.auth.service import create_user, get_user
from pv.db import make_engine, write_session
from pv.study.models import Site
from pv.timeutil import utcnow

ADMIN = "admin"


def seed_user(
    target: Engine | str,
    username: str = ADMIN,
    role: str = "admin",
    *,
    sites: tuple[tuple[str, str], ...] = (),
    disabled: bool = False,
    locked: bool = False,
) -> str:
    """Create the user (no password: commands need none) unless it exists; `sites` are
    (study id, site code) pairs. Returns the username."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with write_session(engine) as session:
            if get_user(session, username) is None:
                bound = [
                    session.exec(
                        select(Site).where(Site.study_id == study, Site.code == code)
                    ).one()
                    for study, code in sites
                ]
                user = create_user(session=session, actor=Actor.system("tests"),
                                   username=username, role=role, sites=bound or None)  # fmt: skip
                user.disabled = disabled
                user.locked_at = utcnow() if locked else None
                session.add(user)
    finally:
        if isinstance(target, str):
            engine.dispose()
    return username


def seed_admin(target: Engine | str, username: str = ADMIN) -> str:
    return seed_user(target, username, "admin")


def user_id(engine: Engine, username: str) -> int:
    with write_session(engine) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        assert user.id is not None
        return user.id
