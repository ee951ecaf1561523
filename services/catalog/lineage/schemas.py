"""The lineage's REST replies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class RunOut(BaseModel):
    run_id: uuid.UUID
    job: str
    service: str
    state: str  # START (running), COMPLETE, FAIL
    started_at: datetime | None
    ended_at: datetime | None
    facets: dict[str, Any]


class EdgeOut(BaseModel):
    asset_id: uuid.UUID
    run_id: uuid.UUID
    version: int | None  # the asset's version the run read or wrote
    direction: Literal["input", "output"]


class LineageAsset(BaseModel):
    location: str
    name: str | None  # None: not (yet) in the catalog


class LineageOut(BaseModel):
    asset_id: uuid.UUID
    runs: list[RunOut]
    edges: list[EdgeOut]
    assets: dict[uuid.UUID, LineageAsset]


class RunDataset(BaseModel):
    asset_id: uuid.UUID
    location: str
    version: int | None


class RunDetail(RunOut):
    inputs: list[RunDataset]
    outputs: list[RunDataset]
