"""The audit tables of the compliance schema: the hash-chained audit log and its head."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.audit import AuditEntryColumns
from services.compliance.db import Base


class AuditLogRow(AuditEntryColumns, Base):
    """One audit entry. `id` is gapless (assigned under the chain lock); `hash` covers the
    entry and `prev_hash`, so altering, removing or reordering a row breaks the chain."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The user whose data it was (`subject`) is blanked by erasure. The hash covers
    # `subject_key` (its keyed hash) instead, so the chain survives erasure; filters use it too.
    subject_key: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_subject_key_id", "subject_key", "id"),
        Index("ix_audit_log_actor_id", "actor", "id"),
        Index("ix_audit_log_at", "at"),
    )


class AuditChainHead(Base):
    """The last chained row, kept beside the chain so that cutting off its tail is caught."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
