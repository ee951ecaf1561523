"""The asset catalog's REST replies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


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
