"""Moving committed outbox rows to the lake, exactly once, whatever crashes when.

1. claim: tag pending rows with a new batch id (committed);
2. land: append them to the raw table in one Delta commit carrying the batch's token;
3. mark: flag the batch and its rows as landed (committed).
A crash after 1 leaves a claimed batch, re-landed on the next run; a crash after 2 leaves a
batch the table already holds (a commit carries its token), so it is only marked. One flusher
runs at a time (a Postgres advisory lock), so a claimed batch is never landed twice at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.ingest import metrics, repository
from services.ingest.config import IngestSettings
from services.ingest.landing import build_batch, identifiers_in
from services.ingest.raw_table import RawEventsTable

log = structlog.get_logger(__name__)


@dataclass
class FlushReport:
    locked_out: bool = False
    batches: int = 0
    recovered: int = 0
    rows: int = 0
    bytes: int = 0
    batch_ids: list[int] = field(default_factory=list)


async def land_batch(
    engine: AsyncEngine,
    table: RawEventsTable,
    batch: repository.ClaimedBatch,
    settings: IngestSettings,
    *,
    recovering: bool = False,
) -> tuple[int, int]:
    """Land one claimed batch (idempotent). Returns (rows, bytes) newly landed."""
    batch_id = batch.id
    if recovering and table.holds_batch(batch.token):
        async with engine.begin() as conn:
            await repository.mark_landed(conn, batch_id, lake_version=None, bytes_landed=0)
        log.info("flush_batch_already_landed", batch_id=batch_id)
        return 0, 0

    started = time.perf_counter()
    async with engine.begin() as conn:
        rows = await repository.batch_rows(conn, batch_id)
        await repository.save_identifiers(conn, identifiers_in(rows))
        known = await repository.identifiers_for(conn, sorted({r.user_id for r in rows}))
    if not rows:
        async with engine.begin() as conn:
            await repository.mark_landed(conn, batch_id, lake_version=None, bytes_landed=0)
        return 0, 0

    built = build_batch(rows, batch_id=batch_id, known=known, settings=settings)
    landed = table.append(built.table, token=batch.token)
    async with engine.begin() as conn:
        await repository.mark_landed(
            conn, batch_id, lake_version=landed.version, bytes_landed=landed.bytes
        )

    metrics.FLUSH_SECONDS.observe(time.perf_counter() - started)
    oldest = min(r.received_at for r in rows)
    metrics.FLUSH_LAG_SECONDS.observe((datetime.now(UTC) - oldest).total_seconds())
    for service, n in built.rows_by_service.items():
        metrics.ROWS_LANDED.labels(service).inc(n)
    metrics.BYTES_LANDED.inc(landed.bytes)
    for entity, n in built.pii_by_entity.items():
        metrics.PII_FINDINGS.labels(entity).inc(n)
    log.info(
        "flush_batch_landed",
        batch_id=batch_id,
        rows=landed.rows,
        bytes=landed.bytes,
        lake_version=landed.version,
    )
    return landed.rows, landed.bytes


@asynccontextmanager
async def raw_table_lock(engine: AsyncEngine, *, wait: bool) -> AsyncIterator[bool]:
    """Held by whoever writes the raw table (flush, compaction); yields False if taken."""
    async with engine.connect() as conn:
        got = await repository.take_flush_lock(conn, wait=wait)
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                await repository.release_flush_lock(conn)
                await conn.commit()


async def flush_outbox(
    settings: IngestSettings, lake: Lake, *, max_batches: int | None = None
) -> FlushReport:
    """Land every pending row (or `max_batches` batches); a no-op if another flush runs."""
    report = FlushReport()
    engine = one_shot_engine(settings.database_url)
    table = RawEventsTable(lake, settings.ingest_raw_table)
    try:
        async with raw_table_lock(engine, wait=False) as locked:
            if not locked:
                report.locked_out = True
                return report
            async with engine.begin() as conn:
                unfinished = await repository.unfinished_batches(conn)
            for claimed_before in unfinished:
                rows, size = await land_batch(
                    engine, table, claimed_before, settings, recovering=True
                )
                report.recovered += 1
                report.rows += rows
                report.bytes += size
            while max_batches is None or report.batches < max_batches:
                async with engine.begin() as conn:
                    claimed = await repository.claim_batch(conn, settings.ingest_flush_batch_rows)
                if claimed is None:
                    break
                rows, size = await land_batch(engine, table, claimed, settings)
                report.batches += 1
                report.batch_ids.append(claimed.id)
                report.rows += rows
                report.bytes += size
            async with engine.connect() as conn:
                depth, oldest = await repository.outbox_depth(conn)
            metrics.OUTBOX_DEPTH.set(depth)
            metrics.OUTBOX_OLDEST_AGE.set(oldest)
    finally:
        await engine.dispose()
    return report
