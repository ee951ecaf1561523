"""Data-quality tallies per day, source and data type (schema `ingest`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from services.ingest.db import Base


class QualityDaily(Base):
    """Data-quality tallies of one day for one source and data type (see quality/service.py)."""

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
