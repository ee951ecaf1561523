"""The retention tables of the compliance schema: retention policies and runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.compliance.db import Base


class RetentionPolicy(Base):
    """How long one kind of data is kept (services/compliance/retention/service.py enforces it).

    `target_kind` is `delta` (a Delta table at `target`, deleted by whole date partitions of
    `date_column`), `delta_tables` (every Delta table under the prefix `target`, by its own
    date partition column when `date_column` is null, else by `date_column`, a partition or a
    date/timestamp column; a table with neither is skipped) or `objects` (objects under the
    prefix `target`, by modification time; `keep_latest` versions per folder are kept
    whatever their age)."""

    __tablename__ = "retention_policies"

    zone: Mapped[str] = mapped_column(String(32), primary_key=True)
    data_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    retention_days: Mapped[int] = mapped_column(Integer)
    target_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(300))
    date_column: Mapped[str | None] = mapped_column(String(64))
    keep_latest: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("retention_days BETWEEN 1 AND 3650", name="retention_days"),
        CheckConstraint("target_kind IN ('delta', 'delta_tables', 'objects')", name="target_kind"),
    )


class RetentionRun(Base):
    """One enforcement run: what each policy removed, and its errors (`results`)."""

    __tablename__ = "retention_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # beat | manual
    requested_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed | skipped
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_removed: Mapped[int] = mapped_column(BigInteger)
    objects_removed: Mapped[int] = mapped_column(BigInteger)
    bytes_removed: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(Integer)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)

    __table_args__ = (Index("ix_retention_runs_created_at", "created_at"),)
