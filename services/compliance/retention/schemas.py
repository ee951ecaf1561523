"""Request and response bodies of the retention API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    zone: str
    data_type: str
    retention_days: int = Field(description="Data older than this many days is deleted")
    target_kind: str = Field(
        description="delta (date partitions), delta_tables (every Delta table under a prefix,"
        " by date) or objects (by last write)"
    )
    target: str = Field(description="The Delta table path, or the prefix in the lake")
    date_column: str | None = Field(
        description="The date column a Delta target ages by; null for delta_tables: each"
        " table's own date partition column, read from its metadata"
    )
    keep_latest: int = Field(description="Objects: newest versions per folder always kept")
    updated_by: str
    updated_at: datetime


class PolicyList(BaseModel):
    items: list[PolicyOut]


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_days: int = Field(ge=1, le=3650, description="1 to 3650 days")


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    trigger: str = Field(description="beat or manual")
    requested_by: str
    status: str = Field(description="queued | running | done | failed | skipped")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows_removed: int
    objects_removed: int
    bytes_removed: int
    errors: int
    results: list[dict[str, Any]] = Field(description="Per policy: cutoff, what went, error")


class RunList(BaseModel):
    items: list[RunOut]


class RunQueued(BaseModel):
    id: uuid.UUID
    status: str
