"""Derived assets: what each was made from, and the users it was computed from.

`derived_subjects` holds subject keys (keyed hashes of user ids): the users whose rows the
source held when the derived asset was computed, so an erasure finds every derived asset
that may hold the user (subjects/stores.py). `derived` holds no user data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.catalog.db import SCHEMA, Base

WRITING, PRESENT, DROPPED = "writing", "present", "dropped"


class DerivedRow(Base):
    __tablename__ = "derived"
    __table_args__ = {"schema": SCHEMA}

    location: Mapped[str] = mapped_column(Text, primary_key=True)  # derived/<purpose>/<name>
    source_location: Mapped[str] = mapped_column(Text)
    source_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    transformation: Mapped[str] = mapped_column(String(32))  # SQL, FILTER, COLUMN_RENAME
    purpose: Mapped[str] = mapped_column(String(32))  # the consent purpose it serves
    status: Mapped[str] = mapped_column(String(16))  # writing, present, dropped
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DerivedSubjectRow(Base):
    __tablename__ = "derived_subjects"
    __table_args__ = (Index("ix_derived_subjects_subject_key", "subject_key"), {"schema": SCHEMA})

    location: Mapped[str] = mapped_column(
        Text, ForeignKey(f"{SCHEMA}.derived.location", ondelete="CASCADE"), primary_key=True
    )
    subject_key: Mapped[str] = mapped_column(String(64), primary_key=True)
