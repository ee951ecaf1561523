"""The dead-letter row (schema `ingest`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.ingest.db import Base

# The user a dead letter is about, as the ingest path reads it: `user_id` (logs, CSV rows),
# else Segment's userId, else `anon:<anonymousId>` (schemas.SegmentEvent). Indexed; a query
# must use this exact expression to use the index.
DEAD_LETTER_USER = (
    "coalesce(nullif(payload ->> 'userId', ''), nullif(payload ->> 'user_id', ''),"
    " 'anon:' || nullif(coalesce(payload ->> 'anonymousId', payload ->> 'anonymous_id'), ''))"
)


class DeadLetter(Base):
    """A rejected entry, kept to inspect, replay or discard (deadletters/service.py).

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
        # erasure finds a user's rejected entries by these (services/ingest/subjects/stores.py)
        Index("ix_dead_letters_user", text(f"({DEAD_LETTER_USER})")),
        Index(
            "ix_dead_letters_raw", "id", postgresql_where=text("jsonb_typeof(payload) <> 'object'")
        ),
    )
