"""The lake's storage report: size and small files per zone and per asset, with compaction
and lifecycle suggestions (`mindlake catalog storage`).

A zone is the lake's top folder (`raw`, `processed`, `analytics`, ...). Small files are data
files (Parquet, outside Delta logs) under `small_bytes`: a table of many of them reads slowly
and costs a request each on S3, so `compact_min` of them in one asset suggests a compaction.
Objects older than `cold_days` that hold most of a zone's bytes suggest a lifecycle rule
(an infrequent-access tier on S3). Counting reads only the listing: no file is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from libs.common.lake import DELTA_LOG, Lake, LakeObject
from services.catalog.assets.known import StorageFormat, kind_of

SMALL_BYTES = 16 * 1024 * 1024
COMPACT_MIN = 50
COLD_DAYS = 90


@dataclass
class Usage:
    files: int = 0
    bytes: int = 0
    small_files: int = 0
    cold_bytes: int = 0

    def add(self, obj: LakeObject, *, small: bool, cold: bool) -> None:
        self.files += 1
        self.bytes += obj.size
        self.small_files += small
        self.cold_bytes += obj.size if cold else 0


@dataclass
class StorageReport:
    zones: dict[str, Usage] = field(default_factory=dict)
    assets: dict[str, Usage] = field(default_factory=dict)
    formats: dict[str, StorageFormat] = field(default_factory=dict)
    suggestions: list[str] = field(default_factory=list)


def _data_file(obj: LakeObject) -> bool:
    return obj.path.endswith(".parquet") and DELTA_LOG not in f"/{obj.path}"


def storage_report(
    lake: Lake,
    *,
    small_bytes: int = SMALL_BYTES,
    compact_min: int = COMPACT_MIN,
    cold_days: int = COLD_DAYS,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> StorageReport:
    cold_before = (now or datetime.now(UTC)) - timedelta(days=cold_days)
    report = StorageReport()
    for i, obj in enumerate(lake.list()):
        small = _data_file(obj) and obj.size < small_bytes
        cold = obj.modified is not None and obj.modified < cold_before
        zone = obj.path.split("/", 1)[0]
        report.zones.setdefault(zone, Usage()).add(obj, small=small, cold=cold)
        claimed = kind_of(obj.path)
        if claimed is not None:
            kind, location = claimed
            report.assets.setdefault(location, Usage()).add(obj, small=small, cold=cold)
            report.formats[location] = kind.storage_format
        if progress and i % 1000 == 999:
            progress(i + 1)
    report.suggestions = _suggestions(report, compact_min, cold_days)
    return report


def _suggestions(report: StorageReport, compact_min: int, cold_days: int) -> list[str]:
    found: list[str] = []
    for location, usage in sorted(report.assets.items()):
        if usage.small_files >= compact_min:
            how = ("delta-rs `optimize.compact()` (raw/events: ingest's `ingest.compact`)"
                   if report.formats[location] is StorageFormat.DELTA
                   else "rewrite the parts into fewer files")  # fmt: skip
            found.append(f"compact {location}: {usage.small_files:,} small files; {how}")
    for zone, usage in sorted(report.zones.items()):
        if usage.bytes and usage.cold_bytes * 2 > usage.bytes:
            share = usage.cold_bytes / usage.bytes
            found.append(f"lifecycle {zone}/: {share:.0%} of its bytes are older than "
                         f"{cold_days} days; an S3 lifecycle rule can move them to an "
                         "infrequent-access tier")  # fmt: skip
    return found
