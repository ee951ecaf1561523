"""Reading an asset's facts from the lake: schema, Delta version, rows, bytes, files, the
last change, and a small sample of each column for its privacy class.

Delta tables are read through their log (no data file is opened for the counts); a Parquet
file set by its newest file's schema and every file's footer; JSONL by the keys of its
newest file's first lines; any other file set by its sizes only.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from libs.common.lake import DELTA_LOG, Lake, LakeObject
from services.catalog.assets.known import Kind, StorageFormat
from services.catalog.assets.privacy import classify, personal

JSON_SAMPLE_LINES = 50
PARQUET_FOOTERS_MAX = 2000  # row counts from at most this many files' footers


@dataclass
class Facts:
    storage_format: StorageFormat
    columns: list[dict[str, Any]] = field(default_factory=list)
    partition_columns: list[str] = field(default_factory=list)
    version: int | None = None
    rows: int | None = None
    bytes: int = 0
    files: int = 0
    changed_at: datetime | None = None


def _column(name: str, type_: str, nullable: bool, sample: Any) -> dict[str, Any]:
    privacy = classify(name, sample)
    return {"name": name, "type": type_, "nullable": nullable, "privacy": privacy.value,
            "personal": personal(name, privacy)}  # fmt: skip


def _columns(schema: pa.Schema, sample: pa.Table | None) -> list[dict[str, Any]]:
    names = set(sample.column_names) if sample is not None else set()
    return [
        _column(f.name, str(f.type), f.nullable,
                sample.column(f.name) if sample is not None and f.name in names else None)
        for f in schema
    ]  # fmt: skip


def _delta(lake: Lake, location: str, sample_rows: int) -> Facts | None:
    table = lake.delta_table(location)
    if table is None:
        return None
    schema = pa.schema(table.schema().to_arrow())
    adds = pa.table(table.get_add_actions(flatten=True))
    strings = [f.name for f in schema if pa.types.is_string(f.type) or
               pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type)]  # fmt: skip
    dataset = table.to_pyarrow_dataset()
    sample = dataset.head(sample_rows, columns=strings) if adds.num_rows else None
    history = table.history(1)
    changed = history[0].get("timestamp") if history else None
    return Facts(
        storage_format=StorageFormat.DELTA,
        columns=_columns(schema, sample),
        partition_columns=list(table.metadata().partition_columns),
        version=table.version(),
        rows=int(pc.sum(adds.column("num_records")).as_py() or 0) if adds.num_rows else 0,
        bytes=int(pc.sum(adds.column("size_bytes")).as_py() or 0) if adds.num_rows else 0,
        files=adds.num_rows,
        changed_at=datetime.fromtimestamp(changed / 1000, UTC) if changed else None,
    )


def _newest(objects: list[LakeObject], *suffixes: str) -> LakeObject | None:
    found = [o for o in objects if o.path.endswith(suffixes)]
    return max(found, key=lambda o: (o.modified or datetime.min.replace(tzinfo=UTC), o.path),
               default=None)  # fmt: skip


def _parquet(lake: Lake, objects: list[LakeObject], facts: Facts, sample_rows: int) -> None:
    newest = _newest(objects, ".parquet")
    if newest is None:
        return
    with lake.open_input_file(newest.path) as src:
        parquet = pq.ParquetFile(src)
        schema = parquet.schema_arrow
        sample = parquet.read_row_group(0) if parquet.num_row_groups else None
    facts.columns = _columns(schema, sample.slice(0, sample_rows) if sample is not None else None)
    parts = [o for o in objects if o.path.endswith(".parquet")]
    if len(parts) <= PARQUET_FOOTERS_MAX:  # more: no row count rather than a partial one
        total = 0
        for part in parts:
            with lake.open_input_file(part.path) as src:
                total += pq.ParquetFile(src).metadata.num_rows
        facts.rows = total


def _json_lines(lake: Lake, objects: list[LakeObject], facts: Facts) -> None:
    newest = _newest(objects, ".jsonl", ".jsonl.gz")
    if newest is None:
        return
    data = lake.read_bytes(newest.path)
    if newest.path.endswith(".gz"):
        data = gzip.decompress(data)
    rows = [orjson.loads(line) for line in io.BytesIO(data).readlines()[:JSON_SAMPLE_LINES]]
    rows = [r for r in rows if isinstance(r, dict)]
    if rows:
        sample = pa.Table.from_pylist(rows)
        facts.columns = _columns(sample.schema, sample)


def inspect(lake: Lake, kind: Kind, location: str, *, sample_rows: int) -> Facts | None:
    """The asset's facts, or None when nothing of it is in the lake any more."""
    if kind.storage_format is StorageFormat.DELTA:
        return _delta(lake, location, sample_rows)
    objects = [o for o in lake.list(location) if DELTA_LOG not in o.path]
    if not objects:
        return None
    facts = Facts(
        storage_format=kind.storage_format,
        bytes=sum(o.size for o in objects),
        files=len(objects),
        changed_at=max((o.modified for o in objects if o.modified), default=None),
    )
    if kind.storage_format is StorageFormat.PARQUET:
        _parquet(lake, objects, facts, sample_rows)
    elif kind.storage_format is StorageFormat.JSONL:
        _json_lines(lake, objects, facts)
    return facts
