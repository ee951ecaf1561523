"""Run-level lineage: one row per run of a job, one per asset it read or wrote (at the
version it saw). Edges belong to their run, so an asset's earlier runs keep their lineage.
No user data: job names, times, locations, versions and the job's own facets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.catalog.db import SCHEMA, Base


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = {"schema": SCHEMA}

    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    job: Mapped[str] = mapped_column(String(128))
    service: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # START, COMPLETE, FAIL
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    facets: Mapped[dict[str, Any]] = mapped_column(JSONB)


class RunDatasetRow(Base):
    __tablename__ = "run_datasets"
    __table_args__ = (
        UniqueConstraint("run_id", "direction", "location", name="run_dataset"),
        Index("ix_run_datasets_asset", "asset_id", "direction"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.runs.run_id", ondelete="CASCADE")
    )
    direction: Mapped[str] = mapped_column(String(8))  # input, output
    location: Mapped[str] = mapped_column(Text)
    asset_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))  # uuid5 of the location
    version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
