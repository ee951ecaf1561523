"""The raw zone's events table: one Delta table partitioned by service and event date.

Only non-identifying columns get file statistics, so no user id or text is ever copied into
`_delta_log` (by default delta-rs keeps min/max of every column there, and a deleted user's
id would survive the delete). Each flush batch's commit carries the batch's random
token in its commit info: the commit and the token are atomic, so after a crash the flusher
can tell whether a batch is already in the table. (A token, not the batch number: numbers
restart with a new or restored database while the lake stays.)
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pyarrow as pa
from deltalake import CommitProperties, WriterProperties, write_deltalake

from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS, RAW_EVENTS_PARTITIONS, RAW_EVENTS_SCHEMA

TOKEN_KEY = "mindlake.flush_token"  # noqa: S105 - a commit-info key, not a secret
RECOVERY_HISTORY_DEPTH = 500  # commits searched for a crashed batch; only flushes append
STATS_COLUMNS = "event_time,received_at,flush_batch"
PARTITION_BY = RAW_EVENTS_PARTITIONS
SCHEMA = RAW_EVENTS_SCHEMA  # libs/common/lake_tables.py: export and compliance read it too

TABLE_CONFIGURATION = {
    "delta.dataSkippingStatsColumns": STATS_COLUMNS,
    "delta.checkpointInterval": "50",
    "delta.logRetentionDuration": "interval 7 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}


@dataclass(frozen=True)
class Landed:
    version: int
    rows: int
    bytes: int


class RawEventsTable:
    def __init__(self, lake: Lake, path: str = RAW_EVENTS) -> None:
        self.lake = lake
        self.path = path
        self.uri = lake.uri(path)

    def holds_batch(self, token: str) -> bool:
        """Whether a recent commit of the table carries this flush batch's token."""
        table = self.lake.delta_table(self.path)
        if table is None:
            return False
        return any(c.get(TOKEN_KEY) == token for c in table.history(RECOVERY_HISTORY_DEPTH))

    def append(self, rows: pa.Table, *, token: str) -> Landed:
        write_deltalake(
            self.uri,
            rows.cast(SCHEMA),
            mode="append",
            partition_by=PARTITION_BY,
            configuration=TABLE_CONFIGURATION,
            storage_options=self.lake.storage_options,
            writer_properties=WriterProperties(compression="ZSTD"),
            commit_properties=CommitProperties(custom_metadata={TOKEN_KEY: token}),
        )
        table = self.lake.delta_table(self.path)
        assert table is not None
        version = table.version()
        return Landed(version=version, rows=rows.num_rows, bytes=self._bytes_added(version))

    def _bytes_added(self, version: int) -> int:
        """Parquet bytes the commit added, read from its log entry."""
        log = self.lake.read_bytes(f"{self.path}/_delta_log/{version:020d}.json")
        total = 0
        for line in log.splitlines():
            action = orjson.loads(line)
            if "add" in action:
                total += int(action["add"]["size"])
        return total
