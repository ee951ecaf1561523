"""The ingest schema: the durable outbox, flush batches, and users' known identifiers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from libs.common.db import schema_metadata

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


class OutboxRow(Base):
    """One accepted entry. A row exists <=> a 2xx was (or is about to be) sent for it."""

    __tablename__ = "outbox"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    service: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    # The validated entry as JSON; cleared once it is in the lake (the row stays for dedup).
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    flush_batch: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    flushed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("ix_outbox_pending", "seq", postgresql_where=text("flush_batch IS NULL")),
        Index("ix_outbox_unflushed", "received_at", postgresql_where=text("flushed_at IS NULL")),
        Index(
            "ix_outbox_flush_batch", "flush_batch", postgresql_where=text("flush_batch IS NOT NULL")
        ),
        Index("ix_outbox_user_id", "user_id"),
    )


class FlushBatch(Base):
    """Rows claimed together and landed in one Delta commit tagged with the batch's token."""

    __tablename__ = "flush_batches"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="claimed")  # claimed | landed
    token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    row_count: Mapped[int] = mapped_column(Integer)
    claimed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    landed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lake_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes_landed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class UserIdentifier(Base):
    """Name, email and phone seen in a user's auth events, to find them in that user's text."""

    __tablename__ = "user_identifiers"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(320), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class QualityDaily(Base):
    """Data-quality tallies of one day for one source and data type (see quality.py)."""

    __tablename__ = "quality_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    data_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    accepted: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    duplicate: Mapped[int] = mapped_column(BigInteger)
    fields_declared: Mapped[int] = mapped_column(BigInteger)
    fields_filled: Mapped[int] = mapped_column(BigInteger)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# The user a dead letter is about, as the ingest path reads it: `user_id` (logs, CSV rows),
# else Segment's userId, else `anon:<anonymousId>` (schemas.SegmentEvent). Indexed; a query
# must use this exact expression to use the index.
DEAD_LETTER_USER = (
    "coalesce(nullif(payload ->> 'userId', ''), nullif(payload ->> 'user_id', ''),"
    " 'anon:' || nullif(coalesce(payload ->> 'anonymousId', payload ->> 'anonymous_id'), ''))"
)


class DeadLetter(Base):
    """A rejected entry, kept to inspect, replay or discard (services/ingest/deadletter.py).

    `payload` is stored as received and scrubbed of PII by a task soon after (`scrubbed_at`).
    """

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # logs | segment | csv | pull | ...
    service: Mapped[str | None] = mapped_column(String(64), nullable=True)  # known services only
    reason: Mapped[str] = mapped_column(String(1000))
    field: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error_kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[Any] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    scrubbed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"))
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    replay_event_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (
        Index("ix_dead_letters_received_at", "received_at"),
        Index("ix_dead_letters_open", "source", "id", postgresql_where=text("status = 'open'")),
        Index("ix_dead_letters_unscrubbed", "id", postgresql_where=text("scrubbed_at IS NULL")),
        # erasure finds a user's rejected entries by these (services/ingest/subject_stores.py)
        Index("ix_dead_letters_user", text(f"({DEAD_LETTER_USER})")),
        Index(
            "ix_dead_letters_raw", "id", postgresql_where=text("jsonb_typeof(payload) <> 'object'")
        ),
    )


class CsvUpload(Base):
    """One CSV upload (services/ingest/csv_upload): its outcome and validation report."""

    __tablename__ = "csv_uploads"

    upload_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    data_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # processing | landed | failed
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    report: Mapped[Any] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_csv_uploads_tenant", "tenant", "data_type", "created_at"),)


# Pull jobs' tables live in their own module on this Base; imported here so this metadata
# (Alembic, tests/test_migrations.py) sees them.
from services.ingest.pull import models as _pull_models  # noqa: E402, F401
