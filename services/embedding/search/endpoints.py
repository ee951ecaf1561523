"""POST /v1/search (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["search"])
