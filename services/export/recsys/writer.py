"""Output files: Parquet with a fixed Arrow schema per dataset (same rows -> same bytes),
a manifest written last (a run without one is incomplete), and pruning of older runs."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from libs.common.lake import Lake

UTC_US = pa.timestamp("us", tz="UTC")
SCHEMAS = {
    "user_features": pa.schema(
        [
            ("user_id", pa.string()),
            ("subject_key", pa.string()),  # erasure finds a user's rows by it
            ("total_interactions", pa.int64()),
            ("unique_items", pa.int64()),
            ("avg_rating", pa.float64()),
            ("last_interaction", UTC_US),
        ]
    ),
    "item_features": pa.schema(
        [
            ("item_id", pa.string()),
            ("category", pa.string()),
            ("popularity", pa.int64()),
            ("unique_users", pa.int64()),
            ("avg_rating", pa.float64()),
        ]
    ),
    "user_sequences": pa.schema(
        [
            ("user_id", pa.string()),
            ("subject_key", pa.string()),
            ("item_ids", pa.list_(pa.string())),
            ("interaction_types", pa.list_(pa.string())),
            ("event_times", pa.list_(UTC_US)),
            ("ratings", pa.list_(pa.float64())),
            ("length", pa.int64()),
        ]
    ),
    # the label is the partition (samples/label=1, samples/label=0), as in Team Eta's layout
    "samples": pa.schema(
        [("user_id", pa.string()), ("subject_key", pa.string()), ("item_id", pa.string())]
    ),
}
MANIFEST = "manifest.json"


def to_arrow(frame: pl.DataFrame, dataset: str) -> pa.Table:
    schema = SCHEMAS[dataset]
    arrow = frame.select(schema.names).to_arrow(compat_level=pl.CompatLevel.oldest())
    return arrow.cast(schema)


def write_parquet(lake: Lake, path: str, table: pa.Table) -> dict[str, Any]:
    """One Parquet file; returns its path, rows and SHA-256 for the manifest."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", row_group_size=128 * 1024)
    data = sink.getvalue().to_pybytes()
    lake.write_bytes(path, data)
    return {"path": path, "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest()}


def write_manifest(lake: Lake, run_dir: str, manifest: dict[str, Any]) -> str:
    path = f"{run_dir}/{MANIFEST}"
    lake.write_bytes(path, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return path


def prune_runs(lake: Lake, tenant_dir: str, keep: int) -> list[str]:
    """Delete the runs older than the `keep` newest complete ones (run ids sort by time).
    Incomplete runs newer than those are left alone: one may still be writing."""
    runs: dict[str, list[str]] = {}
    for obj in lake.list(tenant_dir):
        run = obj.path[len(tenant_dir) :].strip("/").split("/", 1)[0]
        runs.setdefault(run, []).append(obj.path)
    complete = sorted(
        (r for r, paths in runs.items() if f"{tenant_dir}/{r}/{MANIFEST}" in paths),
        reverse=True,
    )
    if len(complete) <= keep:
        return []
    oldest_kept = complete[keep - 1]
    dropped = sorted(r for r in runs if r < oldest_kept)
    for run in dropped:
        # the manifest first: a half-deleted run then reads as incomplete
        for path in sorted(runs[run], key=lambda p: not p.endswith(MANIFEST)):
            lake.delete(path)
    return dropped
