"""Reference safety information (RSI): per drug, versioned lists of expected CTCAE terms.

A version never changes once stored: a new list is a new version with a later
`effective_from`. Expectedness is judged against the version in force on the awareness
date (the latest one whose `effective_from` is on or before it). With no version in
force, nothing is expected: an adverse reaction absent from the RSI is unexpected.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlmodel import Session, col, select

from pv.audit.service import Actor, record
from pv.auth.models import Role
from pv.events.rules import Findings
from pv.events.service import ValidationFailed
from pv.i18n import gettext as _
from pv.review.models import EXPECTED, UNEXPECTED, RsiVersion
from pv.review.workflow import require_role
from pv.study.models import Drug
from pv.terminology.models import Term
from pv.terminology.search import current_release


def rsi_in_force(session: Session, drug_id: int, on_date: date) -> RsiVersion | None:
    """The drug's RSI version in force on `on_date`."""
    return session.exec(
        select(RsiVersion)
        .where(RsiVersion.drug_id == drug_id, RsiVersion.effective_from <= on_date)
        .order_by(col(RsiVersion.effective_from).desc())
    ).first()


def rsi_versions(session: Session, drug_id: int) -> list[RsiVersion]:
    """Every version of a drug's RSI, newest first."""
    return list(
        session.exec(
            select(RsiVersion)
            .where(RsiVersion.drug_id == drug_id)
            .order_by(col(RsiVersion.effective_from).desc())
        )
    )


def expectedness(version: RsiVersion | None, code: str | None) -> str:
    """expected when the coded term is listed in the RSI version, else unexpected."""
    if version is None or not code:
        return UNEXPECTED
    return EXPECTED if code.strip() in version.codes else UNEXPECTED


def add_rsi_version(
    *,
    session: Session,
    actor: Actor,
    drug: Drug,
    label: str,
    effective_from: date,
    codes: Iterable[str],
    source: str | None = None,
) -> RsiVersion:
    """Store a new RSI version for a drug (administrators)."""
    require_role(actor, Role.admin)
    findings = Findings()
    label = label.strip()
    wanted = sorted({c.strip() for c in codes if c and c.strip()})
    if not label:
        findings.error("label", _("a version label is required"))
    existing = rsi_versions(session, drug.id) if drug.id is not None else []
    if any(v.label == label for v in existing):
        findings.error(
            "label",
            _("%(drug)s already has an RSI version '%(label)s'", drug=drug.name, label=label),
        )
    if existing and effective_from <= existing[0].effective_from:
        findings.error(
            "effective_from",
            _(
                "a new version must take effect after the current one (%(date)s)",
                date=existing[0].effective_from.isoformat(),
            ),
        )
    if not wanted:
        findings.error("codes", _("list at least one expected term"))
    release = current_release(session)
    known = set()
    if release is not None and wanted:
        known = set(
            session.exec(
                select(Term.code).where(Term.release_id == release.id, col(Term.code).in_(wanted))
            )
        )
    unknown = [c for c in wanted if c not in known]
    if unknown:
        findings.error("codes", _("not CTCAE codes: %(codes)s", codes=", ".join(unknown)))
    if not findings.ok:
        raise ValidationFailed(findings)
    version = RsiVersion(
        drug_id=drug.id,  # type: ignore[arg-type]
        label=label,
        effective_from=effective_from,
        codes=wanted,
        source=(source or "").strip() or None,
        created_by=actor.user_id,
        created_by_name=actor.username,
    )
    session.add(version)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="create",
        entity_type="rsi_version",
        entity_id=str(version.id),
        study_id=drug.study_id,
        changes={
            "drug_id": [None, drug.id],
            "label": [None, label],
            "effective_from": [None, effective_from],
            "codes": [None, wanted],
            "source": [None, version.source],
        },
    )
    return version
