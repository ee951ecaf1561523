"""The asset catalog's REST replies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ColumnOut(BaseModel):
    name: str
    type: str
    nullable: bool
    privacy: str  # clear, keyed_hash, encrypted_per_user, scrubbed_free_text
    personal: bool  # a clear column that names a person


class AssetOut(BaseModel):
    id: uuid.UUID
    location: str
    name: str
    description: str
    asset_type: str
    storage_format: str
    owner: str
    purpose: str | None  # the consent purpose a use of it needs; None: each use's own
    retention: str
    tags: list[str]
    columns: list[ColumnOut]
    partition_columns: list[str]
    version: int | None
    rows: int | None
    bytes: int
    files: int
    status: str  # present, missing
    last_writer: str | None
    created_at: datetime
    updated_at: datetime
    inspected_at: datetime


class AssetList(BaseModel):
    items: list[AssetOut]
    limit: int
    offset: int


class VersionOut(BaseModel):
    version: int
    timestamp: datetime | None
    operation: str | None
    rows_added: int | None
    rows_removed: int | None
    files_added: int | None
    files_removed: int | None


class VersionList(BaseModel):
    asset_id: uuid.UUID
    items: list[VersionOut]


class ReconcileQueued(BaseModel):
    task: str


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, le=2**62, description="The earlier version to restore")
    drop_later_writes: bool = Field(
        False, description="Must be true: what was written after `version` leaves the table"
    )


class RestoreOut(BaseModel):
    outcome: Literal["restored", "restored_erasures_reapplied"]
    restored_from: int
    restored_to: int
    restore_version: int  # the commit of the restore
    version: int  # the table's version now (after any erasures re-applied)
    erasures_reapplied: int  # erased users found in the restored rows and deleted again
    rows_removed: int
    files_purged: int
