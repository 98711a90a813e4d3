"""The SAE case data of a serious event in the JSON API (/api/v1/events/{id}/sae-case)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
