"""Signing a record version, and checking a signature against the record as it is now.

A signature (21 CFR Part 11):
- §11.200(a): the signer gives the password again at the moment of signing (the log-in
  alone is not a signature); a wrong password signs nothing.
- §11.50: it stores the printed name, the UTC date and time and the meaning.
- §11.70: it is linked to the record version signed by the SHA-256 of that version's
  canonical content (`record_digest`); for any other version `is_valid` is False.

Services call `sign` inside their write transaction, so the record change, its signature
and their audit entries land together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from pv.audit.service import Actor, record
from pv.i18n import N_
from pv.signatures.models import Signature
from pv.timeutil import utcnow

# The meanings a signature can carry (Part 11 §11.50(a)(3)); shown through
# pv.labels ("signature_meaning").
MEANINGS: dict[str, str] = {
    "assessed": N_("assessed"),
    "locked": N_("locked"),
    "unlocked": N_("unlocked"),
    "approved": N_("approved for submission"),
    "unblinded": N_("unblinded"),
}


class SignatureError(ValueError):
    """The signature was refused (wrong password, unknown meaning); nothing was signed."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return value


def record_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 of a record version's canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(_plain(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def printed_name(user: Any) -> str:
    return (getattr(user, "full_name", None) or "").strip() or user.username


def sign(
    *,
    session: Session,
    user: Any,
    password: str,
    meaning: str,
    entity_type: str,
    entity_id: str | int,
    content: Mapping[str, Any],
    record_version: int | None = None,
    study_id: str | None = None,
    reason: str | None = None,
) -> Signature:
    """Sign `content` (the record version) as `user`, whose password is checked again.

    Raises SignatureError, and writes nothing, when the password is wrong or the user
    cannot sign (disabled, locked, no password)."""
    from pv.auth.passwords import verify_password
    from pv.i18n import gettext as _

    if meaning not in MEANINGS:
        raise SignatureError(_("unknown signature meaning '%(meaning)s'", meaning=meaning))
    if (
        user is None
        or getattr(user, "disabled", False)
        or getattr(user, "locked_at", None) is not None
        or not verify_password(getattr(user, "password_hash", None), password or "")
    ):
        raise SignatureError(_("the password is wrong: nothing was signed"))
    signature = Signature(
        study_id=study_id,
        entity_type=entity_type,
        entity_id=str(entity_id),
        record_version=record_version,
        record_digest=record_digest(content),
        meaning=meaning,
        user_id=user.id,
        username=user.username,
        signer_name=printed_name(user)[:200],
        at=utcnow(),
        reason=reason,
    )
    session.add(signature)
    session.flush()
    record(
        session=session,
        actor=Actor(username=user.username, user_id=user.id, role=user.role),
        action="sign",
        entity_type=entity_type,
        entity_id=entity_id,
        changes={
            "signature": [None, signature.id],
            "meaning": [None, meaning],
            "record_version": [None, record_version],
            "record_digest": [None, signature.record_digest],
        },
        reason=reason,
        study_id=study_id,
    )
    return signature


def signatures_for(session: Session, entity_type: str, entity_id: str | int) -> list[Signature]:
    """The record's signatures, oldest first."""
    return list(
        session.exec(
            select(Signature)
            .where(Signature.entity_type == entity_type, Signature.entity_id == str(entity_id))
            .order_by(col(Signature.at), col(Signature.id))
        )
    )


def is_valid(signature: Signature, content: Mapping[str, Any]) -> bool:
    """Whether the signature belongs to this version of the record."""
    return signature.record_digest == record_digest(content)
