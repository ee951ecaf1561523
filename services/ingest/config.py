"""Ingest settings: the common ones plus `MINDLAKE_INGEST_*`."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from libs.common.contracts import TaskName
from libs.common.schedules import BeatSchedule, cron, job
from libs.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    ingest_max_entry_bytes: int = 32 * 1024
    ingest_max_batch_bytes: int = 500 * 1024
    ingest_max_batch_entries: int = 1000

    ingest_flush_batch_rows: int = 20_000  # rows per lake commit: large files, few commits
    ingest_flush_interval_s: float = 10.0  # beat safety net; commits also trigger a flush
    ingest_flush_trigger_min_interval_s: float = 0.5  # at most one trigger per API process
    ingest_compact_cron: str = "15 3 * * *"
    ingest_prune_outbox_cron: str = "30 * * * *"  # flushed rows past the dedup window go
    ingest_scrub_interval_s: float = 60.0  # dead-letter scrub safety net (recording triggers it)
    ingest_pull_due_interval_s: float = 30.0  # how often due pull jobs are claimed
    ingest_compact_target_file_mb: int = 128
    ingest_vacuum_retention_hours: int = 168
    ingest_dedup_window_days: int = 30  # flushed outbox rows are kept to catch late duplicates

    # CSV upload (services/ingest/csv_upload)
    ingest_csv_max_bytes: int = 4 * 1024**3  # the body is spooled to disk, never held in memory
    ingest_csv_chunk_rows: int = 50_000  # rows validated and merged into the lake at a time
    ingest_csv_timestamp_floor: date = date(2020, 1, 1)  # older timestamps are rejected
    ingest_csv_future_skew_s: int = 300  # clock skew allowed for "not in the future"
    ingest_csv_spool_dir: str | None = None  # where uploads are spooled; None: the system temp

    # Pull ingestion jobs (services/ingest/pull)
    ingest_pull_max_rows_per_run: int = 50_000  # one Delta commit a run; the rest waits
    ingest_pull_max_files_per_run: int = 200
    ingest_pull_timeout_s: float = 30.0  # connect/query/HTTP timeout of a source
    ingest_pull_local_roots: str = ""  # comma-separated folders file-drop jobs may read
    # Hosts HTTP jobs may call, comma-separated: `api.example.com` (that host), `example.com`
    # (it and its subdomains), `*` (any host). Empty: HTTP sources are off.
    ingest_pull_allowed_hosts: str = ""
    # Loopback and private (RFC 1918, 100.64/10, fc00::/7) addresses for HTTP jobs; link-local
    # (169.254/16 with the cloud metadata address, fe80::/10), unspecified and multicast never.
    ingest_pull_allow_private_addresses: bool = False


@lru_cache
def get_ingest_settings() -> IngestSettings:
    return IngestSettings()


def beat_schedule() -> BeatSchedule:
    """Ingest's scheduled jobs (libs/common/schedules.py gathers every service's)."""
    s = get_ingest_settings()
    return {
        "ingest-flush": job(  # the safety net: every commit also triggers a flush
            TaskName.INGEST_FLUSH, s.ingest_flush_interval_s,
            expires=max(s.ingest_flush_interval_s * 2, 5),
        ),
        "ingest-compact": job(TaskName.INGEST_COMPACT, cron(s.ingest_compact_cron), expires=3600),
        "ingest-scrub-dead-letters": job(  # a safety net: recording also triggers a scrub
            TaskName.INGEST_SCRUB_DEAD_LETTERS, s.ingest_scrub_interval_s,
            expires=s.ingest_scrub_interval_s * 2,
        ),
        "ingest-pull-due": job(  # claims due pull jobs; each then runs as its own task
            TaskName.INGEST_PULL_DUE, s.ingest_pull_due_interval_s,
            expires=s.ingest_pull_due_interval_s,
        ),
        "ingest-prune-outbox": job(
            TaskName.INGEST_PRUNE_OUTBOX, cron(s.ingest_prune_outbox_cron), expires=3600
        ),
    }  # fmt: skip
