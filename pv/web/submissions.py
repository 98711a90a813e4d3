"""Submissions of a report version on the review page: recipients, channel, the file sent with
its digest, the approver's signature, the E2B acknowledgement."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter()


def submissions_context(
    session: Any, auth: Any, event: Any, errors: dict[str, Any]
) -> dict[str, Any]:
    """This section's part of the review page's context (pv.web.review_context)."""
    return {}
