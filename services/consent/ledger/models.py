"""The `consent` schema: an append-only ledger and the current state derived from it.

`consent.current` is a contract: libs.common.consent reads it directly (read-only), so its
name and the columns `user_id`, `purpose`, `granted`, `as_of`, `policy_version` must not
change without changing that reader.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Identity, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from services.consent.db import Base


class LedgerEntry(Base):
    """One grant or withdrawal. Never updated or deleted (a trigger refuses both)."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    lawful_basis: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    actor_key_id: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_ledger_user_id_id", "user_id", "id"),
        CheckConstraint(
            "purpose IN ('ai_training', 'analytics', 'personalization', 'risk_assessment',"
            " 'research')",
            name="purpose",
        ),
        CheckConstraint("source IN ('app', 'admin', 'import')", name="source"),
    )


class CurrentConsent(Base):
    """The latest ledger entry per user and purpose, kept by a trigger on the ledger's INSERT
    (same transaction), so reads and the bulk check never scan the ledger."""

    __tablename__ = "current"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    lawful_basis: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ledger_id: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        # The bulk check: granted users of one purpose, an index-only probe per id.
        Index(
            "ix_current_granted_purpose_user",
            "purpose",
            "user_id",
            postgresql_where=text("granted"),
        ),
    )


class Tombstone(Base):
    """An erased user, by keyed hash only: ingest refuses their late or re-imported data,
    no data key is created for them again, and new consent for them is refused.

    A contract like `current`: libs.common.crypto and libs.common.consent read it."""

    __tablename__ = "tombstones"

    subject_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36))
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
