"""Writing a split: JSONL, gzip (mtime 0, no file name in the header), and Parquet on request.

Byte-identical output for the same records: the caller passes them in a stable order, each
line is orjson with a fixed key order, gzip carries no time or name, and Parquet gets fixed
writer options (no statistics that vary, one row group per 64k rows).
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from libs.common.lake import Lake

GZIP_LEVEL = 6
PARQUET_ROW_GROUP = 65_536

PARQUET_SCHEMA = pa.schema(
    [
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("completion", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("timestamp", pa.string(), nullable=False),
        pa.field("quality_score", pa.float64(), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
    ]
)
# What a consumer relies on; its hash goes in the manifest.
JSONL_SCHEMA = {
    "prompt": "string",
    "completion": "string",
    "metadata": {
        "source": "string",
        "timestamp": "string (RFC 3339, UTC, Z)",
        "quality_score": "number",
        "tags": "array<string>",
    },
}


@dataclass(frozen=True, slots=True)
class Record:
    prompt: str
    completion: str
    source: str
    timestamp: datetime
    quality_score: float
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Written:
    path: str
    records: int
    bytes: int
    sha256: str


def iso_z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonl_line(record: Record) -> bytes:
    return orjson.dumps(
        {
            "prompt": record.prompt,
            "completion": record.completion,
            "metadata": {
                "source": record.source,
                "timestamp": iso_z(record.timestamp),
                "quality_score": record.quality_score,
                "tags": list(record.tags),
            },
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with no name and mtime 0, so equal data gives equal bytes."""
    out = io.BytesIO()
    with gzip.GzipFile(
        filename="", mode="wb", fileobj=out, mtime=0, compresslevel=GZIP_LEVEL
    ) as gz:
        gz.write(data)
    return out.getvalue()


def gzip_jsonl(records: Sequence[Record]) -> bytes:
    return gzip_bytes(b"".join(jsonl_line(r) for r in records))


def parquet_bytes(records: Sequence[Record]) -> bytes:
    table = pa.table(
        {
            "prompt": [r.prompt for r in records],
            "completion": [r.completion for r in records],
            "source": [r.source for r in records],
            "timestamp": [iso_z(r.timestamp) for r in records],
            "quality_score": [r.quality_score for r in records],
            "tags": [list(r.tags) for r in records],
        },
        schema=PARQUET_SCHEMA,
    )
    return table_bytes(table)


def table_bytes(table: pa.Table) -> bytes:
    """A Parquet file of `table` with the fixed writer options (equal tables, equal bytes)."""
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd", row_group_size=PARQUET_ROW_GROUP)
    return out.getvalue()


def write(lake: Lake, path: str, data: bytes, records: int) -> Written:
    lake.write_bytes(path, data)
    return Written(path, records, len(data), hashlib.sha256(data).hexdigest())
