"""The outbox, flush batches, and users' known identifiers (schema `ingest`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from services.ingest.db import Base


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
