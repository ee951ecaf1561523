"""Every query of the data-quality figures (ingest.quality_daily, one row per day, source and
data type)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_ADD_TALLY = text(
    """
    INSERT INTO ingest.quality_daily
        (day, source, data_type, accepted, rejected, duplicate, fields_declared, fields_filled,
         last_seen_at)
    VALUES (:day, :source, :data_type, :accepted, :rejected, :duplicate, :fields_declared,
            :fields_filled, :last_seen_at)
    ON CONFLICT (day, source, data_type) DO UPDATE SET
        accepted = quality_daily.accepted + EXCLUDED.accepted,
        rejected = quality_daily.rejected + EXCLUDED.rejected,
        duplicate = quality_daily.duplicate + EXCLUDED.duplicate,
        fields_declared = quality_daily.fields_declared + EXCLUDED.fields_declared,
        fields_filled = quality_daily.fields_filled + EXCLUDED.fields_filled,
        last_seen_at = greatest(quality_daily.last_seen_at, EXCLUDED.last_seen_at)
    """
)
# The day's rows, each with the last arrival ever seen for its source and data type.
_DAY_ROWS = text(
    "SELECT d.source, d.data_type, d.accepted, d.rejected, d.duplicate,"
    " d.fields_declared, d.fields_filled, s.last_seen"
    " FROM ingest.quality_daily d JOIN ("
    "   SELECT source, data_type, max(last_seen_at) AS last_seen"
    "   FROM ingest.quality_daily GROUP BY source, data_type) s"
    " USING (source, data_type) WHERE d.day = :day ORDER BY d.source, d.data_type"
)


async def add_tally(
    conn: AsyncConnection, *, day: date, last_seen_at: datetime | None, **counts: Any
) -> None:
    """Add counts to the day's row of one source and data type (created when missing)."""
    await conn.execute(_ADD_TALLY, {"day": day, "last_seen_at": last_seen_at, **counts})


async def day_rows(conn: AsyncConnection, day: date) -> Sequence[tuple[Any, ...]]:
    """(source, data_type, accepted, rejected, duplicate, fields_declared, fields_filled,
    last_seen) per row."""
    return [tuple(row) for row in await conn.execute(_DAY_ROWS, {"day": day})]
