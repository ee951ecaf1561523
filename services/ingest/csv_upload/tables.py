"""A tenant's uploaded tables in the raw zone, and the quarantine of rejected rows.

`raw/tenants/<tenant>/interactions` (partitioned by event date) and `.../items`. Rows land by
a Delta MERGE on `row_key` (a hash of the tenant and the row's natural key), so a re-upload,
or an upload retried after a crash half-way, never lands a row twice. As in flush/raw_table.py,
only non-identifying columns get file statistics: no user id is copied into `_delta_log`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, WriterProperties, write_deltalake

from libs.common import lake_tables
from libs.common.lake import Lake

UPLOAD_KEY = "mindlake.csv_upload"
UTC_US = pa.timestamp("us", tz="UTC")

INTERACTIONS = pa.schema(
    [
        pa.field("row_key", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        # Keyed hash of user_id: erasure deletes by it, so no raw id enters the table log.
        pa.field("subject_key", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("interaction_type", pa.string(), nullable=False),
        pa.field("event_time", UTC_US, nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
        pa.field("rating", pa.float64(), nullable=True),
        pa.field("upload_id", pa.string(), nullable=False),
        pa.field("landed_at", UTC_US, nullable=False),
    ]
)
ITEMS = pa.schema(
    [
        pa.field("row_key", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=True),
        pa.field("price", pa.float64(), nullable=True),
        pa.field("created_at", UTC_US, nullable=True),
        pa.field("content_hash", pa.string(), nullable=False),  # an update lands only if it differs
        pa.field("upload_id", pa.string(), nullable=False),
        pa.field("landed_at", UTC_US, nullable=False),
    ]
)


@dataclass(frozen=True)
class TableSpec:
    schema: pa.Schema
    partition_by: list[str]
    stats_columns: str
    merge_on: str  # partition columns in the predicate let delta-rs prune files
    upsert: bool  # items: a newer upload of an item replaces it; interactions are immutable


SPECS = {
    "interactions": TableSpec(
        INTERACTIONS,
        ["event_date"],
        "event_date,event_time,interaction_type,rating,upload_id,landed_at",
        "t.event_date = s.event_date AND t.row_key = s.row_key",
        upsert=False,
    ),
    "items": TableSpec(
        ITEMS, [], "category,price,created_at,upload_id,landed_at", "t.row_key = s.row_key", True
    ),
}


def table_path(tenant: str, data_type: str) -> str:
    return lake_tables.tenant_table(tenant, data_type)


def quarantine_path(tenant: str, data_type: str, upload_id: str) -> str:
    return lake_tables.quarantine_file(tenant, data_type, upload_id)


@dataclass(frozen=True)
class Merged:
    inserted: int
    updated: int


def merge_rows(lake: Lake, tenant: str, data_type: str, rows: pa.Table, upload_id: str) -> Merged:
    """Land rows not yet in the table (items: also changed ones). Callers serialize writers."""
    spec = SPECS[data_type]
    path = table_path(tenant, data_type)
    rows = rows.select(spec.schema.names).cast(spec.schema)
    commit = CommitProperties(custom_metadata={UPLOAD_KEY: upload_id})
    writer = WriterProperties(compression="ZSTD")
    table = lake.delta_table(path)
    if table is None:
        write_deltalake(
            lake.uri(path),
            rows,
            mode="append",
            partition_by=spec.partition_by or None,
            configuration={"delta.dataSkippingStatsColumns": spec.stats_columns},
            storage_options=lake.storage_options,
            writer_properties=writer,
            commit_properties=commit,
        )
        return Merged(inserted=rows.num_rows, updated=0)
    merger = table.merge(
        rows,
        predicate=spec.merge_on,
        source_alias="s",
        target_alias="t",
        writer_properties=writer,
        commit_properties=commit,
        # a materialized source (one chunk) lets delta-rs read only the partitions it touches
        streamed_exec=False,
    )
    if spec.upsert:
        merger = merger.when_matched_update_all(predicate="t.content_hash <> s.content_hash")
    stats = merger.when_not_matched_insert_all().execute()
    return Merged(
        inserted=int(stats.get("num_target_rows_inserted", 0)),
        updated=int(stats.get("num_target_rows_updated", 0)),
    )


class Quarantine:
    """Rejected rows of one upload, as text with their row number and reason: one Parquet
    file, written a row group per chunk, opened only if a row is rejected."""

    def __init__(self, lake: Lake, path: str, columns: list[str]) -> None:
        self.lake = lake
        self.path = path
        fields = [pa.field("row_number", pa.int64()), pa.field("reason", pa.string())]
        fields += [pa.field(c, pa.string()) for c in columns]
        fields.append(pa.field("raw_text", pa.string()))  # malformed lines only
        self.schema = pa.schema(fields)
        self._stream: pa.NativeFile | None = None
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        if self._writer is None:
            self._stream = self.lake.open_output_stream(self.path)
            self._writer = pq.ParquetWriter(self._stream, self.schema, compression="zstd")
        for name in self.schema.names:
            if name not in rows.column_names:
                rows = rows.append_column(name, pa.nulls(rows.num_rows, pa.string()))
        self._writer.write_table(rows.select(self.schema.names).cast(self.schema))
        self.rows += rows.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._stream is not None:
            self._stream.close()
