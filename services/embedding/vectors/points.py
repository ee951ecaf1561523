"""Point ids and payloads. A payload holds no text and no user id: the subject key (a keyed
hash), where the text lives in the lake, and which model made the vector. Snippets are read
back from the lake at query time, so crypto-shredding covers them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

# The namespace of MindLake's point ids (a fixed UUID: the same chunk always gets the same id).
NAMESPACE = uuid.UUID("6f1d3c3e-58a4-4c52-9a55-0d6f4f6a6d21")


def point_id(source: str, event_id: str, chunk_index: int) -> str:
    """UUIDv5 of (source, event id, chunk index): a re-run upserts instead of duplicating."""
    return str(uuid.uuid5(NAMESPACE, f"{source}\x1f{event_id}\x1f{chunk_index}"))


class PointPayload(BaseModel):
    subject_key: str
    event_id: str
    service: str  # the source
    event_date: date  # the raw/events partition the text is read back from
    event_time: datetime
    chunk_index: int
    chunk_start: int  # character range of the chunk in the event's document
    chunk_end: int
    chunks: int  # how many chunks the document has (reconcile drops ids beyond it)
    model: str
    model_version: str
    embedded_at: datetime

    def as_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
