"""The ingest schema's name and its one declarative `Base` (every models module uses it)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from libs.common.db import schema_metadata

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
