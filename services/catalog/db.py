"""The `catalog` schema's name and the service's one declarative `Base`."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from libs.common.db import schema_metadata

SCHEMA = "catalog"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
