"""The lineage (`export.lineage`): which user fed which line of which export file."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.export.db import Base


class LineageRow(Base):
    """Line `line` (1-based) of data file `file` came from the user with `subject_key`."""

    __tablename__ = "lineage"

    export_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True
    )
    file: Mapped[str] = mapped_column(String(500), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_lineage_subject_key", "subject_key"),)
