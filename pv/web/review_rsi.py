"""Reference safety information: every version per drug; administrators add a new one.

Officers see the lists they judge expectedness against; a new version never edits an
old one, it takes effect from a later date (pv.review.rsi).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from pv.auth.models import Role
from pv.db import write_session
from pv.events.service import ValidationFailed
from pv.i18n import gettext as _
from pv.inputs import parse_id
from pv.review.rsi import add_rsi_version, rsi_in_force, rsi_versions
from pv.study.models import Drug
from pv.terminology.models import Term
from pv.terminology.search import current_release
from pv.timeutil import today
from pv.web.deps import DB, Auth, WebAuth, engine, require
from pv.web.review_common import REVIEWERS, field_errors, parse_date, pick_study, refusals, text
from pv.web.templating import render

router = APIRouter()


def parse_codes(raw: str) -> list[str]:
    """Codes from the text box: one per line or comma-separated; text after a code (the
    term's name, as the box is pre-filled) is ignored."""
    codes = []
    for item in re.split(r"[,;\n]+", raw):
        first = item.strip().split(maxsplit=1)
        if first:
            codes.append(first[0])
    return codes


def _terms(session: Session, codes: set[str]) -> dict[str, str]:
    release = current_release(session)
    if release is None or not codes:
        return {}
    rows = session.exec(
        select(Term.code, Term.term).where(Term.release_id == release.id, col(Term.code).in_(codes))
    ).all()
    return dict(rows)


def _context(
    session: Session,
    auth: Auth,
    study: str,
    typed: dict[int, dict[str, str]],
    errors: dict[int, dict[str, str]],
) -> dict[str, Any]:
    studies, study_id = pick_study(session, study)
    drugs = list(session.exec(select(Drug).where(Drug.study_id == study_id).order_by(Drug.name)))
    per_drug: list[dict[str, Any]] = []
    for d in drugs:
        versions = rsi_versions(session, d.id)  # type: ignore[arg-type]
        in_force = rsi_in_force(session, d.id, today())  # type: ignore[arg-type]
        changes = {}
        for newer, older in zip(versions, versions[1:], strict=False):
            changes[newer.id] = (
                sorted(set(newer.codes) - set(older.codes)),
                sorted(set(older.codes) - set(newer.codes)),
            )
        per_drug.append({"drug": d, "versions": versions, "in_force": in_force, "changes": changes})
    codes = {c for p in per_drug for v in p["versions"] for c in v.codes}
    for t in typed.values():
        codes |= set(parse_codes(t.get("codes", "")))
    names = _terms(session, codes)
    for p in per_drug:
        drug_id: int = p["drug"].id
        current = p["versions"][0].codes if p["versions"] else []
        prefill = "\n".join(f"{c}  {names.get(c, '')}".rstrip() for c in current)
        p["typed"] = typed.get(drug_id) or {"codes": prefill}
        p["errors"] = errors.get(drug_id, {})
        p["sorted"] = {v.id: sorted(v.codes, key=lambda c: names.get(c, c)) for v in p["versions"]}
    return {
        "auth": auth,
        "studies": studies,
        "study": study_id,
        "drugs": per_drug,
        "names": names,
        "today": today().isoformat(),
    }


@router.get("/admin/rsi")
def rsi_page(request: Request, auth: WebAuth, session: DB, study: str = "") -> Response:
    require(auth, *REVIEWERS)
    return render(request, "review/rsi.html", _context(session, auth, study, {}, {}))


@router.post("/admin/rsi")
async def add_version(request: Request, auth: WebAuth) -> Response:
    require(auth, Role.admin)
    form = await request.form()
    drug_id = text(form, "drug_id")
    typed = {name: text(form, name) for name in ("label", "effective_from", "codes", "source")}
    errors: dict[str, str] = {}
    with write_session(engine(request)) as session:
        drug = session.get(Drug, n) if (n := parse_id(drug_id)) is not None else None
        if drug is None:
            raise HTTPException(404, _("no such study drug"))
        start = parse_date(typed["effective_from"], "effective_from", errors)
        if start is not None:
            try:
                with refusals():
                    add_rsi_version(
                        session=session,
                        actor=auth.actor,
                        drug=drug,
                        label=typed["label"],
                        effective_from=start,
                        codes=parse_codes(typed["codes"]),
                        source=typed["source"],
                    )
                return RedirectResponse(f"/admin/rsi?study={drug.study_id}&added={drug.id}", 303)
            except ValidationFailed as exc:
                errors.update(field_errors(exc))
        session.rollback()
        ctx = _context(session, auth, drug.study_id, {drug.id: typed}, {drug.id: errors})  # type: ignore[dict-item]
        return render(request, "review/rsi.html", ctx, status_code=422)
