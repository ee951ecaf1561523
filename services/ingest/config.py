"""Ingest settings: the common ones plus `MINDLAKE_INGEST_*`."""

from __future__ import annotations

from functools import lru_cache

from libs.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    ingest_max_entry_bytes: int = 32 * 1024
    ingest_max_batch_bytes: int = 500 * 1024
    ingest_max_batch_entries: int = 1000

    ingest_flush_batch_rows: int = 20_000  # rows per lake commit: large files, few commits
    ingest_flush_interval_s: float = 10.0  # beat safety net; commits also trigger a flush
    ingest_flush_trigger_min_interval_s: float = 0.5  # at most one trigger per API process
    ingest_compact_cron: str = "15 3 * * *"
    ingest_compact_target_file_mb: int = 128
    ingest_vacuum_retention_hours: int = 168
    ingest_dedup_window_days: int = 30  # flushed outbox rows are kept to catch late duplicates
    ingest_raw_table: str = "raw/events"


@lru_cache
def get_ingest_settings() -> IngestSettings:
    return IngestSettings()
