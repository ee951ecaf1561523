"""The compliance schema's name and its one declarative `Base` (models live in the sub-packages)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from libs.common.db import schema_metadata

SCHEMA = "compliance"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
