"""Report versions of an event's expedited report on the review page: prepare (freeze) the
initial report or a follow-up, what changed, and each version's CIOMS I and E2B(R3)
downloads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter()


def versions_context(session: Any, auth: Any, event: Any, errors: dict[str, Any]) -> dict[str, Any]:
    """This section's part of the review page's context (pv.web.review_context)."""
    return {}
