"""Shared pieces of the safety-review screens: who may do what, form parsing, error mapping.

The review services raise domain errors; a route turns them into the status the user
sees: RoleRefused 403, TransitionRefused and NotEditable 409, LookupError 404.
ValidationFailed (422) and VersionConflict (409) are caught by the routes themselves,
which re-render the form with every message, or with the other person's saved values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from fastapi import HTTPException
from sqlmodel import Session, select
from starlette.datastructures import FormData

from pv import inputs
from pv.auth.models import Role
from pv.events.service import NotEditable, ValidationFailed
from pv.i18n import gettext as _
from pv.inputs import parse_id
from pv.review.workflow import RoleRefused, TransitionRefused
from pv.study.models import Study

REVIEWERS = (Role.officer, Role.admin)  # the queue and the event review page
CHART_READERS = (Role.officer, Role.dsmb, Role.admin)  # study-level charts
QUERY_READERS = (Role.investigator, Role.officer, Role.admin)


def field_errors(exc: ValidationFailed) -> dict[str, str]:
    """{field: message}, several messages of one field joined."""
    out: dict[str, str] = {}
    for issue in exc.findings.errors:
        out[issue.field] = (
            f"{out[issue.field]} · {issue.message}" if issue.field in out else issue.message
        )
    return out


@contextmanager
def refusals() -> Iterator[None]:
    """Map the review services' refusals to HTTP errors with their message."""
    try:
        yield
    except RoleRefused as exc:
        raise HTTPException(403, str(exc)) from exc
    except (TransitionRefused, NotEditable) as exc:
        raise HTTPException(409, str(exc)) from exc
    except (KeyError, IndexError):
        raise  # a bug, not a missing item
    except LookupError as exc:
        raise HTTPException(404, _("no such item")) from exc


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_version(form: FormData) -> int:
    """The event version the form was read at (every review POST carries it)."""
    version = parse_id(text(form, "version"))
    if version is None:
        raise HTTPException(422, _("the form lost the event's version; reload the page"))
    return version


def parse_date(value: str, name: str, errors: dict[str, str]) -> date | None:
    try:
        return inputs.parse_date(value)
    except ValueError:
        errors[name] = _("enter a date as YYYY-MM-DD") if value else _("a date is required")
        return None


def query_date(value: str, name: str) -> date | None:
    """A date from the query string; 422 when it is not one."""
    if not value:
        return None
    try:
        return inputs.parse_date(value)
    except ValueError as exc:
        raise HTTPException(
            422, _("%(name)s: '%(value)s' is not a date (YYYY-MM-DD)", name=name, value=value[:20])
        ) from exc


def studies(session: Session) -> list[Study]:
    return list(session.exec(select(Study).order_by(Study.id)))


def pick_study(session: Session, wanted: str) -> tuple[list[Study], str | None]:
    """Every study and the one to show (the first when none was asked); 404 for unknown."""
    found = studies(session)
    if wanted and wanted not in {s.id for s in found}:
        raise HTTPException(404, _("no such study"))
    return found, wanted or (found[0].id if found else None)


def safe_back(target: str, default: str) -> str:
    """A local path to return to after a form (never another site)."""
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok else default
