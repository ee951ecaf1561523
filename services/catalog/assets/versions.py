"""A Delta asset's history, version by version, from its table log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from libs.common.lake import Lake

# delta-rs names the counts differently per operation (WRITE, DELETE, MERGE, OPTIMIZE, ...).
ADDED_ROWS = ("num_added_rows", "num_target_rows_inserted")
REMOVED_ROWS = ("num_deleted_rows", "num_target_rows_deleted")


def _first(metrics: dict[str, Any], names: tuple[str, ...]) -> int | None:
    found = [metrics[n] for n in names if isinstance(metrics.get(n), int)]
    return found[0] if found else None


def history(lake: Lake, location: str, *, limit: int) -> list[dict[str, Any]] | None:
    """The newest `limit` versions, newest first; None if `location` is not a Delta table."""
    table = lake.delta_table(location)
    if table is None:
        return None
    out = []
    for entry in table.history(limit):
        metrics = entry.get("operationMetrics") or {}
        stamp = entry.get("timestamp")
        out.append({
            "version": int(entry.get("version", 0)),
            "timestamp": datetime.fromtimestamp(stamp / 1000, UTC) if stamp else None,
            "operation": entry.get("operation"),
            "rows_added": _first(metrics, ADDED_ROWS),
            "rows_removed": _first(metrics, REMOVED_ROWS),
            "files_added": metrics.get("num_added_files"),
            "files_removed": metrics.get("num_removed_files"),
        })  # fmt: skip
    return out
