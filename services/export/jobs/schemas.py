"""Request and response bodies of the export API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ServiceName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_date: date
    end_date: date  # inclusive
    services: Annotated[list[ServiceName], Field(min_length=1, max_length=20)] | None = None
    min_quality: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    formats: Annotated[list[Literal["jsonl", "parquet"]], Field(min_length=1)] = ["jsonl"]


class ExportQueued(BaseModel):
    id: uuid.UUID
    status: str
    status_url: str


class ExportOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    spec: dict[str, Any]
    progress: dict[str, Any]
    counts: dict[str, Any] | None
    average_quality: float | None
    files: dict[str, str]  # name -> file name to pass to /download?file=
    manifest: dict[str, Any] | None
    version: int
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class ExportList(BaseModel):
    items: list[ExportOut]
    next_cursor: str | None
