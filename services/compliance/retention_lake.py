"""The lake side of retention: drop expired date partitions of a Delta table, expired objects.

Blocking (deltalake, pyarrow filesystems): call from a worker thread. A Delta purge must run
under the table's writer lock (libs.common.lake_locks), which the caller holds.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pyarrow as pa

from libs.common.lake import Lake, LakeObject

DELTA_LOG = "/_delta_log/"
COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Removed:
    rows: int = 0
    files: int = 0
    bytes: int = 0
    partitions: list[str] = field(default_factory=list)  # the dates dropped (Delta targets)
    skipped_tables: list[str] = field(default_factory=list)  # Delta tables under a prefix


def purge_partitions(lake: Lake, path: str, date_column: str, cutoff: date) -> Removed:
    """Delete every row whose `date_column` is before `cutoff`, then purge the files at once.

    The predicate names a date and nothing else, so no identifier enters the table log. Whole
    partitions go: the delete rewrites no file, only removes them. The vacuum with zero
    retention also purges files earlier commits (compaction) left behind, which is what
    erasure does too; the checkpoint lets readers skip the older log entries.
    """
    if not COLUMN.fullmatch(date_column):
        raise ValueError("the date column is not a plain column name")
    table = lake.delta_table(path)
    if table is None:
        return Removed()
    files = pa.table(table.get_add_actions(flatten=True))
    partition = f"partition.{date_column}"
    if partition not in files.column_names:
        raise ValueError(f"{path} is not partitioned by {date_column}")
    expired = [
        (value, int(size))
        for value, size in zip(
            files.column(partition).to_pylist(),
            files.column("size_bytes").to_pylist(),
            strict=True,
        )
        if value is not None and _as_date(value) < cutoff
    ]
    if not expired:
        return Removed()
    metrics = table.delete(f"{date_column} < '{cutoff.isoformat()}'")
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    table.create_checkpoint()
    table.cleanup_metadata()
    return Removed(
        rows=int(metrics.get("num_deleted_rows", 0)),
        files=int(metrics.get("num_removed_files", len(expired))),
        bytes=sum(size for _, size in expired),
        partitions=sorted({_as_date(value).isoformat() for value, _ in expired}),
    )


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def purge_objects(lake: Lake, prefix: str, cutoff: datetime, *, keep_latest: int = 0) -> Removed:
    """Delete the objects under `prefix` last written before `cutoff`.

    With `keep_latest` = N, objects are aged as versions: a version is an entry (file or
    folder) two levels under the prefix (`models/<model>/<version>`), as old as its newest
    object, and the N newest versions of each folder stay whatever their age (the model in
    use is never deleted for being old). Delta tables found under the prefix are left alone:
    deleting their files by age would corrupt them.
    """
    objects = lake.list(prefix)
    tables = sorted({o.path.split(DELTA_LOG, 1)[0] for o in objects if DELTA_LOG in o.path})
    removed = Removed(skipped_tables=tables)
    candidates = [
        o for o in objects if not any(o.path.startswith(t.rstrip("/") + "/") for t in tables)
    ]
    if keep_latest > 0:
        expired = _expired_versions(candidates, prefix, cutoff, keep_latest)
    else:
        expired = [o for o in candidates if o.modified is not None and o.modified < cutoff]
    for obj in expired:
        lake.delete(obj.path)
        removed.files += 1
        removed.bytes += obj.size
    return removed


def _expired_versions(
    objects: list[LakeObject], prefix: str, cutoff: datetime, keep_latest: int
) -> list[LakeObject]:
    base = prefix.strip("/")
    versions: dict[tuple[str, str], list[LakeObject]] = defaultdict(list)
    for obj in objects:
        rest = obj.path[len(base) :].strip("/").split("/") if base else obj.path.split("/")
        folder, version = ("", rest[0]) if len(rest) == 1 else (rest[0], rest[1])
        versions[(folder, version)].append(obj)
    newest = {
        key: max((o.modified for o in objs if o.modified is not None), default=None)
        for key, objs in versions.items()
    }
    by_folder: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in versions:
        by_folder[key[0]].append(key)
    expired: list[LakeObject] = []
    for keys in by_folder.values():
        # Newest first; a tie (same second on S3) is broken by the name, versions sort by it.
        keys.sort(key=lambda k: (newest[k] or OLDEST, k[1]), reverse=True)
        for key in keys[keep_latest:]:
            modified = newest[key]
            if modified is not None and modified < cutoff:
                expired.extend(versions[key])
    return expired
