"""The SAE case data of a serious event on the web: the form sections (reporter,
hospitalization, history, concomitant medications, tests, dechallenge / rechallenge, death)
on the event form and the review page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter()


def case_data_context(
    session: Any, auth: Any, event: Any, errors: dict[str, Any]
) -> dict[str, Any]:
    """This section's part of the review page's context (pv.web.review_context)."""
    return {}
