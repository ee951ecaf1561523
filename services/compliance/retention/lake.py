"""The lake side of retention: drop expired rows of Delta tables (by date), expired objects.

Blocking (deltalake, pyarrow filesystems): call from a worker thread. A Delta purge must run
under the table's writer lock (libs.common.lake_locks), which the caller holds.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pyarrow as pa
from deltalake import DeltaTable

from libs.common.lake import Lake, LakeObject, delta_tables_in

COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Removed:
    rows: int = 0
    files: int = 0
    bytes: int = 0
    partitions: list[str] = field(default_factory=list)  # the dates dropped (Delta targets)
    skipped_tables: list[str] = field(default_factory=list)  # Delta tables under a prefix
    skip_reasons: dict[str, str] = field(default_factory=dict)  # why, by table (Delta prefixes)
    purged_tables: list[str] = field(default_factory=list)  # tables that lost rows (prefixes)
    failed_tables: dict[str, str] = field(default_factory=dict)  # table -> error (prefixes)

    def skip(self, path: str, reason: str) -> None:
        self.skipped_tables.append(path)
        self.skip_reasons[path] = reason

    def add(self, path: str, other: Removed) -> None:
        """Count one table's purge (or skip) into a prefix's total."""
        self.rows += other.rows
        self.files += other.files
        self.bytes += other.bytes
        self.partitions = sorted(set(self.partitions) | set(other.partitions))
        if other.rows or other.files:
            self.purged_tables.append(path)
        for table in other.skipped_tables:
            self.skip(table, other.skip_reasons.get(table, ""))


def purge_partitions(lake: Lake, path: str, date_column: str, cutoff: date) -> Removed:
    """Delete every row whose `date_column` is before `cutoff`, then purge the files at once.

    The predicate names a date and nothing else, so no identifier enters the table log. Whole
    partitions go: the delete rewrites no file, only removes them. The vacuum with zero
    retention also purges files earlier commits (compaction) left behind, which is what
    erasure does too; the checkpoint lets readers skip the older log entries.
    """
    date_column = _plain(date_column)
    table = lake.delta_table(path)
    if table is None:
        return Removed()
    return _purge_partitions(table, path, date_column, cutoff)


def _purge_partitions(table: DeltaTable, path: str, date_column: str, cutoff: date) -> Removed:
    """`purge_partitions` of an open table; `date_column` is a checked name (`_plain`)."""
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


def purge_table(lake: Lake, path: str, date_column: str | None, cutoff: date) -> Removed:
    """Age one table of a prefix by its date: the table's own date partition column (from its
    metadata) when `date_column` is None, else the named column (a partition column, or a date
    or timestamp column of the rows). A table with neither is skipped with the reason."""
    table = lake.delta_table(path)
    if table is None:
        return Removed()
    schema = pa.schema(table.schema().to_arrow())
    partitions = list(table.metadata().partition_columns)
    if date_column is None:
        dated = [c for c in partitions if pa.types.is_date(schema.field(c).type)]
        if len(dated) != 1:
            removed = Removed()
            reason = "several date partitions" if dated else "no date partition"
            removed.skip(path, f"{reason} (partitioned by {partitions or 'nothing'})")
            return removed
        return _purge_partitions(table, path, _plain(dated[0]), cutoff)
    if date_column in partitions:
        return _purge_partitions(table, path, _plain(date_column), cutoff)
    if date_column in schema.names and _is_dated(column_type := schema.field(date_column).type):
        return _purge_rows(table, _plain(date_column), column_type, cutoff)
    removed = Removed()
    removed.skip(path, f"no date column {date_column}")
    return removed


def purge_rows(lake: Lake, path: str, date_column: str, cutoff: date) -> Removed:
    """Delete every row whose `date_column` (a date or timestamp, not a partition) is before
    `cutoff` (midnight UTC), then vacuum with zero retention and checkpoint.

    The predicate names the date alone. A file whose rows are all expired goes whole; one that
    also holds younger rows is rewritten without the expired ones (the table's own statistics
    settings apply to the new file, so no identifying column gets statistics in the log)."""
    date_column = _plain(date_column)
    table = lake.delta_table(path)
    if table is None:
        return Removed()
    column_type = pa.schema(table.schema().to_arrow()).field(date_column).type
    return _purge_rows(table, date_column, column_type, cutoff)


def _purge_rows(
    table: DeltaTable, date_column: str, column_type: pa.DataType, cutoff: date
) -> Removed:
    """`purge_rows` of an open table; `date_column` is a checked name (`_plain`)."""
    files = pa.table(table.get_add_actions(flatten=True))
    oldest = f"min.{date_column}"
    if (  # statistics on the column: nothing to do (and no commit) if no file is old enough
        oldest in files.column_names
        and files.column(oldest).null_count == 0
        and not any(_as_date(v) < cutoff for v in files.column(oldest).to_pylist())
    ):
        return Removed()
    before = _file_sizes(files)
    if pa.types.is_date(column_type):
        bound = cutoff.isoformat()
    else:  # timestamp: midnight UTC of the cutoff day, as partitions are cut
        bound = f"{cutoff.isoformat()}T00:00:00" + ("Z" if column_type.tz else "")
    metrics = table.delete(f"{date_column} < '{bound}'")
    if not int(metrics.get("num_removed_files", 0)):
        return Removed()
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    table.create_checkpoint()
    table.cleanup_metadata()
    after = _file_sizes(pa.table(table.get_add_actions(flatten=True)))
    freed = sum(size for name, size in before.items() if name not in after) - sum(
        size for name, size in after.items() if name not in before
    )
    return Removed(
        rows=int(metrics.get("num_deleted_rows", 0)),
        files=int(metrics.get("num_removed_files", 0)),
        bytes=max(freed, 0),
    )


def _file_sizes(files: pa.Table) -> dict[str, int]:
    return dict(
        zip(
            files.column("path").to_pylist(),
            (int(s) for s in files.column("size_bytes").to_pylist()),
            strict=True,
        )
    )


def _plain(column: str) -> str:
    """The column name, if a plain one (it is written into a delete predicate)."""
    if not COLUMN.fullmatch(column):
        raise ValueError("the date column is not a plain column name")
    return column


def _is_dated(column_type: pa.DataType) -> bool:
    return bool(pa.types.is_date(column_type) or pa.types.is_timestamp(column_type))


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
    tables = delta_tables_in(objects)
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
