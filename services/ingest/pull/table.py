"""A job's Delta table `raw/pulled/<job_name>`, and turning records into its rows.

Each run appends in one commit whose commit info carries the run id and the job's new
position (cursor or files taken): rows and position become durable together, so after a crash
between the commit and the Postgres update the next run takes the position from the table.
Only non-identifying columns get file statistics (see flush/raw_table.py for why). A record whose
user is known (`subject_field`) is encrypted with that user's data key, like raw events'
free text; a record of an erased user is not landed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, WriterProperties, write_deltalake

from libs.common.lake import Lake
from libs.common.lake_crypto import PULLED_COLUMNS, SUBJECT_COLUMN, encrypt_values
from libs.common.pii import get_scrubber
from libs.common.settings import CommonSettings
from libs.common.subjects import subject_key
from services.ingest.pull.schemas import table_path

RUN_KEY = "mindlake.pull_run"
CURSOR_KEY = "mindlake.pull_cursor"
FILES_KEY = "mindlake.pull_files"
HISTORY_DEPTH = 100  # commits searched for the newest run; only runs append to the table

SCHEMA = pa.schema(
    [
        pa.field("record", pa.string(), nullable=False),  # JSON, free text PII-scrubbed
        pa.field("subject_key", pa.string(), nullable=True),  # keyed hash of subject_field
        pa.field("pulled_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("source_position", pa.string(), nullable=False),
        pa.field("pii_findings", pa.int32(), nullable=False),
    ]
)
TABLE_CONFIGURATION = {
    "delta.dataSkippingStatsColumns": "pulled_at,run_id,pii_findings",
    "delta.logRetentionDuration": "interval 7 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}


@dataclass(frozen=True)
class Position:
    """The position a commit of the table recorded."""

    run_id: str
    version: int
    cursor: dict[str, Any] | None
    files: list[str]


def build_rows(
    records: list[dict[str, Any]],
    positions: list[str],
    *,
    run_id: str,
    landing: dict[str, Any],
    settings: CommonSettings,
) -> pa.Table:
    """Every string in a record is scrubbed, except `keep_fields`; `subject_field` is hashed."""
    keep = set(landing.get("keep_fields") or [])
    subject_field = landing.get("subject_field")
    holders: list[tuple[int, Any, Any]] = []  # (record, container, key) of each string
    subjects: list[str | None] = []
    for i, record in enumerate(records):
        subject = record.get(subject_field) if subject_field else None
        if subject_field and subject is not None:
            subject = subject_key(str(subject), settings)
            record[subject_field] = subject
        subjects.append(subject)
        for key, value in record.items():
            if key not in keep and key != subject_field:
                _strings(value, i, record, key, holders)
    findings = [0] * len(records)
    if holders:
        scrubbed = get_scrubber().scrub_many([h[1][h[2]] for h in holders])
        for (i, container, key), result in zip(holders, scrubbed, strict=True):
            container[key] = result.text
            findings[i] += len(result.findings)
    now = datetime.now(UTC)
    return pa.Table.from_pydict(
        {
            "record": [orjson.dumps(r, default=str).decode() for r in records],
            "subject_key": subjects,
            "pulled_at": [now] * len(records),
            "run_id": [run_id] * len(records),
            "source_position": positions,
            "pii_findings": findings,
        },
        schema=SCHEMA,
    )


def encrypt_records(rows: pa.Table, keys: Mapping[str, bytes]) -> pa.Table:
    """Records of a known user sealed with their key; those of a user with no key (erased)
    dropped; records with no user stay as they are (scrubbed, not encrypted)."""
    subjects = rows[SUBJECT_COLUMN]
    refused = pc.and_(
        pc.is_valid(subjects), pc.invert(pc.is_in(subjects, pa.array(list(keys), pa.string())))
    )
    rows = rows.filter(pc.invert(pc.fill_null(refused, False)))
    (column,) = PULLED_COLUMNS
    sealed = encrypt_values(rows[column].to_pylist(), rows[SUBJECT_COLUMN].to_pylist(), keys)
    index = rows.schema.get_field_index(column)
    return rows.set_column(index, rows.schema.field(index), pa.array(sealed, pa.string()))


def _strings(value: Any, i: int, container: Any, key: Any, out: list[tuple[int, Any, Any]]) -> None:
    if isinstance(value, str):
        if value.strip():
            out.append((i, container, key))
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings(v, i, value, k, out)
    elif isinstance(value, list):
        for j, v in enumerate(value):
            _strings(v, i, value, j, out)


class PulledTable:
    def __init__(self, lake: Lake, job_name: str) -> None:
        self.lake = lake
        self.path = table_path(job_name)

    def last_position(self) -> Position | None:
        """The newest commit that recorded a run's position."""
        table = self.lake.delta_table(self.path)
        if table is None:
            return None
        for commit in table.history(HISTORY_DEPTH):  # newest first
            run_id = commit.get(RUN_KEY)
            if run_id:
                cursor = commit.get(CURSOR_KEY)
                return Position(
                    run_id=str(run_id),
                    version=int(commit["version"]),
                    cursor=orjson.loads(cursor) if cursor else None,
                    files=orjson.loads(commit.get(FILES_KEY) or "[]"),
                )
        return None

    def append(
        self, rows: pa.Table, *, run_id: str, cursor: dict[str, Any] | None, files: list[str]
    ) -> int:
        metadata = {RUN_KEY: run_id, FILES_KEY: orjson.dumps(files).decode()}
        if cursor is not None:
            metadata[CURSOR_KEY] = orjson.dumps(cursor).decode()
        write_deltalake(
            self.lake.uri(self.path),
            rows,
            mode="append",
            configuration=TABLE_CONFIGURATION,
            storage_options=self.lake.storage_options,
            writer_properties=WriterProperties(compression="ZSTD"),
            commit_properties=CommitProperties(custom_metadata=metadata),
        )
        table = self.lake.delta_table(self.path)
        assert table is not None
        return int(table.version())
