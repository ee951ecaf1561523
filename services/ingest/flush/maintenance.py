"""Raw-table upkeep: compaction (few large files) and pruning of old flushed outbox rows."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.lake_locks import raw_events_locked
from libs.common.lake_tables import RAW_EVENTS
from services.ingest.config import IngestSettings
from services.ingest.outbox import repository

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CompactionReport:
    files_removed: int
    files_added: int
    files_vacuumed: int
    version: int | None


async def compact(settings: IngestSettings, lake: Lake) -> CompactionReport:
    """Bin-pack small files, checkpoint the log and vacuum files past the retention."""
    engine = one_shot_engine(settings.database_url)
    try:
        async with engine.connect() as owner, raw_events_locked(owner):
            table = lake.delta_table(RAW_EVENTS)
            if table is None:
                return CompactionReport(0, 0, 0, None)
            metrics = table.optimize.compact(
                target_size=settings.ingest_compact_target_file_mb * 1024 * 1024
            )
            table.create_checkpoint()
            vacuumed = table.vacuum(
                retention_hours=settings.ingest_vacuum_retention_hours,
                dry_run=False,
                enforce_retention_duration=False,
            )
            table.cleanup_metadata()
            report = CompactionReport(
                files_removed=int(metrics.get("numFilesRemoved", 0)),
                files_added=int(metrics.get("numFilesAdded", 0)),
                files_vacuumed=len(vacuumed),
                version=table.version(),
            )
    finally:
        await engine.dispose()
    log.info("raw_table_compacted", **report.__dict__)
    return report


async def prune_outbox(settings: IngestSettings) -> int:
    engine = one_shot_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            removed = await repository.prune_flushed(
                conn, older_than_days=settings.ingest_dedup_window_days
            )
    finally:
        await engine.dispose()
    log.info("outbox_pruned", rows=removed)
    return removed
