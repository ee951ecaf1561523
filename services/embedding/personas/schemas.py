"""The personas API's replies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class UploadOut(BaseModel):
    upload_id: uuid.UUID
    name: str | None  # None once the user's key is destroyed
    kind: str  # csv, json, jsonl, text, or auto (sniffed when processed)
    size_bytes: int
    stage: int  # 1 raw, 2 categorized, 3 in the personas; 0 deleted (consent withdrawn)
    status: str  # queued, waiting, categorizing, categorized, done, failed, stopped
    reason: str | None
    records: int | None
    categories: dict[str, int] | None
    categorizer: str | None
    created_at: datetime
    updated_at: datetime
    categorized_at: datetime | None
    built_at: datetime | None


class UploadsOut(BaseModel):
    uploads: list[UploadOut]


class PersonaOut(BaseModel):
    type: str
    name: str
    lastUpdated: datetime
    completeness: int
    summary: str
    insights: list[str]
    dataPoints: list[str]
    traits: dict[str, Any]
    sources: list[str]
    records: int


class PersonasOut(BaseModel):
    personas: dict[str, PersonaOut]
