"""One row per uploaded file: where it is in the stages, and why it stopped if it did.

No user id and no file name in the clear: the row is found by `subject_key`, and the name is
sealed with the user's data key (an erasure's key destruction makes it unreadable at once).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.embedding.db import SCHEMA, Base


class UploadStatus:
    QUEUED = "queued"  # stage 1: waiting for its categorize task
    WAITING = "waiting"  # stage 1: over the automatic size limit; processed on request
    CATEGORIZING = "categorizing"  # stage 1 -> 2 running (claimed)
    CATEGORIZED = "categorized"  # stage 2 written; its persona build is queued
    DONE = "done"  # stage 3: its records are in the user's personas
    FAILED = "failed"  # see `reason`; the other files are not affected
    STOPPED = "stopped"  # personalization consent was withdrawn: its files are deleted

    ACTIVE = (QUEUED, CATEGORIZING, CATEGORIZED)


class UploadRow(Base):
    __tablename__ = "persona_uploads"
    __table_args__ = (
        Index("ix_persona_uploads_subject_key", "subject_key"),
        {"schema": SCHEMA},
    )

    upload_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(64))
    name_sealed: Mapped[str] = mapped_column(Text)  # enc1: the file name, the user's key
    kind: Mapped[str] = mapped_column(String(16))  # csv, json, jsonl, text
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    stage: Mapped[int] = mapped_column(
        SmallInteger
    )  # 1 raw, 2 categorized, 3 in the personas; 0 deleted
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # fixed wording, no content
    claim: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    records: Mapped[int | None] = mapped_column(Integer, nullable=True)
    categories: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)  # counts
    categorizer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    categorized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    built_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
