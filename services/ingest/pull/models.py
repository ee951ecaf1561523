"""ORM of pull jobs, their runs and the files each job has taken (schema `ingest`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.ingest.db import Base


class PullJob(Base):
    __tablename__ = "pull_jobs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[dict[str, Any]] = mapped_column(JSONB)  # redacted: DSN masked, header names
    # The job's data key wrapped by the master key, and the source's secrets sealed with it
    # (services/ingest/pull/credentials.py); None when the source has no secret.
    secret_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    landing: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))  # active | paused | failed
    max_errors: Mapped[int] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # A copy of the position in the job's last Delta commit; the commit wins when ahead.
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    last_landed_run: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lake_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )

    __table_args__ = (
        Index("ix_pull_jobs_due", "next_run_at", postgresql_where=text("status = 'active'")),
    )


class PullRun(Base):
    __tablename__ = "pull_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    job_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ingest.pull_jobs.id", ondelete="CASCADE")
    )
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | manual
    state: Mapped[str] = mapped_column(String(16))  # running | landed | empty | failed
    rows: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    files: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lake_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_pull_runs_job_id", "job_id", "started_at"),)


class PullFile(Base):
    """A file a file-drop job has taken: never taken again."""

    __tablename__ = "pull_files"

    job_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ingest.pull_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))
    taken_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
