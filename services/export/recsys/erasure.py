"""A user's rows in the recommender runs kept in the lake, for the erasure registry: found and
removed by subject_key (every user-level file carries it; item features hold only counts).

Erasure rewrites each file without the user's rows and updates the run's manifest (rows,
checksum); a run is otherwise never modified. Pruning (`export_recsys_keep_runs`) bounds how
long even an un-erased withdrawn user's rows stay.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from libs.common.lake import Lake, plain_strings
from services.export.recsys.writer import MANIFEST, write_manifest, write_parquet

USER_FILES = ("user_features", "user_sequences", "samples_label_1", "samples_label_0")


def _manifests(lake: Lake, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for obj in lake.list(prefix):
        if obj.path.endswith(f"/{MANIFEST}"):
            found.append((obj.path.rsplit("/", 1)[0], orjson.loads(lake.read_bytes(obj.path))))
    return sorted(found, key=lambda item: item[0])


def _read(lake: Lake, path: str) -> pa.Table:
    return plain_strings(pq.read_table(pa.BufferReader(lake.read_bytes(path))))


def collect(lake: Lake, prefix: str, subject: str) -> list[dict[str, Any]]:
    """Every row about the subject, with the run and dataset it is in (for portability)."""
    records: list[dict[str, Any]] = []
    for run_dir, manifest in _manifests(lake, prefix):
        for name in USER_FILES:
            file = manifest["files"].get(name)
            if file is None:
                continue
            rows = _read(lake, file["path"])
            for row in rows.filter(pc.equal(rows["subject_key"], subject)).to_pylist():
                records.append({"run": run_dir, "dataset": name, **row})
    return records


def erase(lake: Lake, prefix: str, subject: str) -> int:
    """Rewrite every file holding the subject's rows without them; rows removed (0 the second
    time)."""
    removed = 0
    for run_dir, manifest in _manifests(lake, prefix):
        run_removed = 0
        for name in USER_FILES:
            file = manifest["files"].get(name)
            if file is None:
                continue
            rows = _read(lake, file["path"])
            kept = rows.filter(pc.not_equal(rows["subject_key"], subject))
            if kept.num_rows == rows.num_rows:
                continue
            run_removed += rows.num_rows - kept.num_rows
            manifest["files"][name] = write_parquet(lake, file["path"], kept)
        if run_removed:
            removed += run_removed
            manifest["erased_rows"] = manifest.get("erased_rows", 0) + run_removed
            write_manifest(lake, run_dir, manifest)
    return removed
