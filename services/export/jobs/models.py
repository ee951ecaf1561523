"""The export jobs (`export.exports`); their lineage is in lineage/models.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.export.db import Base


class ExportRow(Base):
    """One export job. `paths` are its current files by name (`train_jsonl`, ..., `manifest`);
    an erasure rewrites them under new names (`version` + 1) and lists the old ones in
    `superseded` until they are deleted."""

    __tablename__ = "exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # ai_training
    status: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONB)  # {stage, done, total}
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    average_quality: Mapped[float | None] = mapped_column(Float)
    paths: Mapped[dict[str, str]] = mapped_column(JSONB)  # {train_jsonl: path, ..., manifest}
    superseded: Mapped[list[str]] = mapped_column(JSONB)  # old files still to delete
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(64))  # API key id, `cli` or `beat`
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    # The beat's period and window (`daily:2026-11-21:2026-11-21`); unique, so a redelivered
    # `export.scheduled` finds its job instead of making a second one. NULL: on request.
    schedule_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        Index("ix_exports_created_at_id", "created_at", "id"),
    )
