"""One row per asset: a Delta table or a file set of the lake, as last inspected.

No user data: locations, schemas, sizes and counts. The id is derived from the location, so
the same asset keeps its id across reconciles, databases and restores.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.catalog.db import SCHEMA, Base


class AssetRow(Base):
    __tablename__ = "assets"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    location: Mapped[str] = mapped_column(Text, unique=True)  # under the lake root
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    asset_type: Mapped[str] = mapped_column(String(32))  # AssetType
    storage_format: Mapped[str] = mapped_column(String(32))  # StorageFormat
    owner: Mapped[str] = mapped_column(String(64))  # the service that writes it
    purpose: Mapped[str | None] = mapped_column(String(32), nullable=True)  # ConsentPurpose
    retention: Mapped[str] = mapped_column(Text)  # the policy that applies, in words
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # name, type, privacy, ...
    partition_columns: Mapped[list[str]] = mapped_column(ARRAY(Text))
    version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # Delta only
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # present, missing (gone from the lake)
    last_writer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # its data changed
    inspected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
