"""The daily features table: build it from the lake, write it (a day at a time, idempotent),
read it back.

The table is Delta at `settings.risk_features_table`, partitioned by day. Writing a day
replaces that day's rows in one commit, so a rebuilt day never holds two versions of a row.
Callers serialize writers (as every lake writer here is, by a Postgres advisory lock).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import WriterProperties, write_deltalake
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.lake import Lake, read_delta
from services.risk.config import RiskSettings
from services.risk.features import sources
from services.risk.features.compute import LOOKBACK_DAYS, compute
from services.risk.features.schema import FEATURES_SCHEMA, empty_features
from services.risk.features.sentiment import annotate

PARTITION_BY = ["day"]
# No file statistics of user_id or subject_key: an erased user's id would outlive their rows
# in the table's log.
TABLE_CONFIGURATION = {
    "delta.dataSkippingStatsColumns": "coverage,built_at",
    "delta.checkpointInterval": "50",
    "delta.logRetentionDuration": "interval 7 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


async def build_features(
    engine: AsyncEngine, lake: Lake, settings: RiskSettings, days: list[date]
) -> pa.Table:
    """One row per (day, user) for users who grant `risk_assessment` now and have an event in
    the 35 days before the day; KEYS + MODEL_INPUTS + coverage, feature_set, built_at.
    Only events before the day's 00:00 UTC count. Empty (with the schema) when there is
    nothing to build from."""
    if not days:
        return empty_features()
    built_at = datetime.now(UTC)
    start = _midnight(min(days) - timedelta(days=LOOKBACK_DAYS))
    end = _midnight(max(days))
    raw = await asyncio.to_thread(sources.read_raw, lake, start, end)
    rows = await sources.consenting(engine, raw)
    opened = await sources.decrypted(engine, rows, settings)

    def features() -> pa.Table:
        return compute(annotate(sources.parse(opened)), days, built_at)

    return await asyncio.to_thread(features)


def _days_predicate(days: list[date]) -> str:
    return "day IN ({})".format(", ".join(f"'{d.isoformat()}'" for d in days))


def write_features(
    lake: Lake, settings: RiskSettings, table: pa.Table, *, days: list[date] | None = None
) -> int:
    """Replace the rows of the table's days (and of `days`, so a day that now has no rows is
    emptied) with the table's rows; the table's new version."""
    rows = table.select(FEATURES_SCHEMA.names).cast(FEATURES_SCHEMA)
    replaced = sorted(set(pc.unique(rows.column("day")).to_pylist()) | set(days or []))
    uri = lake.uri(settings.risk_features_table)
    existing = lake.delta_table(settings.risk_features_table)
    if existing is not None and not replaced:
        return existing.version()  # nothing to write, nothing to replace
    properties = WriterProperties(compression="ZSTD")
    if existing is None:
        write_deltalake(
            uri,
            rows,
            mode="append",
            partition_by=PARTITION_BY,
            configuration=TABLE_CONFIGURATION,
            storage_options=lake.storage_options,
            writer_properties=properties,
        )
    else:
        write_deltalake(
            uri,
            rows,
            mode="overwrite",
            predicate=_days_predicate(replaced),
            partition_by=PARTITION_BY,
            storage_options=lake.storage_options,
            writer_properties=properties,
        )
    written = lake.delta_table(settings.risk_features_table)
    assert written is not None
    return written.version()


def read_features(lake: Lake, settings: RiskSettings, start: date, end: date) -> pa.Table:
    """The rows of the days in [start, end), by day then user; empty when there is no table."""
    table = lake.delta_table(settings.risk_features_table)
    if table is None:
        return empty_features()
    days = (pc.field("day") >= pa.scalar(start)) & (pc.field("day") < pa.scalar(end))
    rows = read_delta(table, FEATURES_SCHEMA.names, partitions=days).cast(FEATURES_SCHEMA)
    return rows.sort_by([("day", "ascending"), ("user_id", "ascending")])
