"""The DSUR line listings (ICH E2F) as a download from the reports page."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
