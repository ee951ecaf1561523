"""Running one export job: the pipeline, its progress, its results and lineage in Postgres.

Shared by the `export.run` task, the beat's scheduled exports and `mindlake export`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common import consent
from libs.common.catalog import asset_written, run_event
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from services.export.config import ExportSettings
from services.export.jobs import metrics, repository
from services.export.lineage import repository as lineage_repository
from services.export.lineage import rewrite
from services.export.training.pipeline import (
    DEFAULT_SERVICES,
    PREFIX,
    ExportResult,
    ExportSpec,
    run_training_export,
)

log = structlog.get_logger(__name__)
JOB = "export.training"  # the catalog's name of this job's runs

ProgressHook = Callable[[str, int, int], None]
_FLUSH_S = 1.0  # progress reaches the database at most this often


def spec_body(
    settings: ExportSettings,
    *,
    start: date,
    end: date,
    services: list[str] | None = None,
    min_quality: float | None = None,
    formats: list[str] | None = None,
) -> dict[str, Any]:
    """The job's spec as stored (JSON), defaults filled in from the settings."""
    return {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "services": sorted(set(services or DEFAULT_SERVICES)),
        "min_quality": settings.export_min_quality if min_quality is None else min_quality,
        "validation_ratio": settings.export_validation_ratio,
        "formats": ["jsonl", "parquet"] if "parquet" in (formats or []) else ["jsonl"],
    }


def period_range(period: str, today: date) -> tuple[date, date]:
    """`daily`: the day before; `weekly`: the 7 days before today."""
    yesterday = today - timedelta(days=1)
    if period == "daily":
        return yesterday, yesterday
    if period == "weekly":
        return today - timedelta(days=7), yesterday
    raise ValueError(f"unknown export period {period!r}")  # it names the job's schedule_key


def _spec(export_id: uuid.UUID, body: dict[str, Any], created_at: datetime) -> ExportSpec:
    return ExportSpec(
        start=date.fromisoformat(body["start_date"]),
        end=date.fromisoformat(body["end_date"]),
        services=list(body["services"]),
        min_quality=float(body["min_quality"]),
        validation_ratio=float(body["validation_ratio"]),
        formats=tuple(body["formats"]),
        export_id=str(export_id),
        created_at=created_at,
    )


class _Progress:
    """The pipeline reports synchronously; a background task writes the latest state."""

    def __init__(self, hook: ProgressHook | None) -> None:
        self.hook = hook
        self.state: tuple[str, int, int] | None = None
        self.written: tuple[str, int, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.state = (stage, done, total)
        if self.hook is not None:
            self.hook(stage, done, total)

    async def flush_forever(self, engine: AsyncEngine, export_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(_FLUSH_S)
            await self.flush(engine, export_id)

    async def flush(self, engine: AsyncEngine, export_id: uuid.UUID) -> None:
        state = self.state
        if state is None or state == self.written:
            return
        async with engine.begin() as conn:
            await repository.set_progress(conn, export_id, *state)
        self.written = state


async def _pipeline(
    spec: ExportSpec, lake: Lake, settings: ExportSettings, progress: ProgressHook
) -> ExportResult:
    engine = one_shot_engine(settings.database_url)
    try:
        return await run_training_export(
            spec, lake=lake, engine=engine, settings=settings, progress=progress
        )
    finally:
        await engine.dispose()


def _observe(result: ExportResult, seconds: float) -> None:
    c = result.counts
    metrics.EXPORT_SECONDS.labels(outcome="done").observe(seconds)
    metrics.RECORDS_IN.inc(c.records_in)
    metrics.RECORDS_OUT.labels(split="train").inc(c.out_train)
    metrics.RECORDS_OUT.labels(split="validation").inc(c.out_validation)
    for reason, n in c.dropped.items():
        metrics.DROPPED.labels(reason=reason).inc(n)
    metrics.AVERAGE_QUALITY.set(result.average_quality)


# Held by the worker running a job, for as long as it runs; released with its connection if
# the worker dies.
RUN_LOCK = text("SELECT pg_try_advisory_lock(hashtext('mindlake-export-run'), hashtext(:id))")
_RUN_UNLOCK = text("SELECT pg_advisory_unlock(hashtext('mindlake-export-run'), hashtext(:id))")


async def run_export(
    export_id: uuid.UUID,
    *,
    engine: AsyncEngine,
    lake: Lake,
    settings: ExportSettings,
    progress: ProgressHook | None = None,
) -> dict[str, Any] | None:
    """Run a queued (or interrupted) job to the end; the finished row, None if there was
    nothing to run. A failure marks the job failed (with the reason) and is raised."""
    # The broker hands an unacknowledged message out again after its visibility timeout
    # (5 minutes, shorter than many exports): a second delivery while the first still runs
    # must not run the job twice, and one after a worker died must run it again.
    async with engine.connect() as lock:
        await lock.execution_options(isolation_level="AUTOCOMMIT")  # not idle in a transaction
        if not await lock.scalar(RUN_LOCK, {"id": str(export_id)}):
            log.info("export_already_running", export_id=str(export_id))
            return None
        try:
            return await _run_locked(export_id, engine, lake, settings, progress)
        finally:
            await lock.execute(_RUN_UNLOCK, {"id": str(export_id)})


def _lineage(export_id: uuid.UUID, result: ExportResult) -> None:
    """The run's lineage: the raw/events version it read, its consent snapshot, its files."""
    manifest = result.manifest
    source = manifest["source_tables"][RAW_EVENTS]["version"]
    run_event(
        export_id, job=JOB, service="export", state="COMPLETE",
        inputs=[(RAW_EVENTS, source)], outputs=[(PREFIX, None)],
        facets={"export_id": str(export_id),
                "consent_snapshot_at": manifest["consent_snapshot_at"],
                "lines": result.counts.out_train + result.counts.out_validation},
    )  # fmt: skip


async def _run_locked(
    export_id: uuid.UUID,
    engine: AsyncEngine,
    lake: Lake,
    settings: ExportSettings,
    progress: ProgressHook | None,
) -> dict[str, Any] | None:
    async with engine.begin() as conn:
        job = await repository.start(conn, export_id)
    if job is None:
        log.info("export_not_run", export_id=str(export_id), reason="finished or unknown")
        return None
    run_event(export_id, job=JOB, service="export", state="START")  # lineage (the catalog)
    reporter = _Progress(progress)
    flusher = asyncio.create_task(reporter.flush_forever(engine, export_id))
    started = time.monotonic()
    try:
        # CPU-bound between its few awaits: in a thread with its own loop (and an unpooled
        # engine, as connections belong to a loop), so progress keeps reaching the database.
        body, created_at = job
        spec = _spec(export_id, body, created_at)
        result = await asyncio.to_thread(asyncio.run, _pipeline(spec, lake, settings, reporter))
    except Exception as exc:
        metrics.EXPORT_SECONDS.labels(outcome="failed").observe(time.monotonic() - started)
        async with engine.begin() as conn:
            await repository.fail(conn, export_id, f"{type(exc).__name__}: {exc}")
        log.warning("export_failed", export_id=str(export_id), error=type(exc).__name__)
        run_event(export_id, job=JOB, service="export", state="FAIL")
        raise
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
    counts = result.counts.as_dict(pii_scrubbed=result.pii_scrubbed)
    lineage = ((key, file, line) for key, lines in result.subjects.items() for file, line in lines)
    async with engine.begin() as conn:
        await lineage_repository.replace_lineage(conn, export_id, lineage)
        await repository.finish(
            conn,
            export_id,
            paths=result.paths,
            counts=counts,
            average_quality=result.average_quality,
            manifest=result.manifest,
        )
        # A user erased while the export ran (their erasure step found no lineage yet).
        erased = await consent.tombstoned(conn, sorted(result.subjects))
    if erased:
        await rewrite.remove_subjects(engine, lake, export_id, erased)
    asset_written(PREFIX, service="export")  # the files, and the job row marking them done
    _lineage(export_id, result)
    _observe(result, time.monotonic() - started)
    log.info(
        "export_done",
        export_id=str(export_id),
        records_out=result.counts.out_train + result.counts.out_validation,
        seconds=round(time.monotonic() - started, 2),
    )
    async with engine.connect() as conn:
        return await repository.get(conn, export_id)
