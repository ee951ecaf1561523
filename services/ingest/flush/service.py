"""Moving committed outbox rows to the lake, exactly once, whatever crashes when.

1. claim: tag pending rows with a new batch and a random token (committed), owning the
   batch's advisory lock from before the commit;
2. land: scrub PII, then append to the raw table in one Delta commit carrying the token;
3. mark: flag the batch and its rows as landed (committed).
A crash after 1 leaves a claimed batch whose lock died with its connection: the next flusher
re-lands it. A crash after 2 leaves a batch the table already holds (a commit carries its
token), so it is only marked. Flushers run in parallel (the PII scrub is the costly part);
only the Delta commit itself is serialized, by a second advisory lock.

Free text is encrypted with each user's data key (crypto-shredding). A row whose user was
erased (a consent tombstone: no key is created for them) is not landed: it is deleted from
the outbox and counted. The tombstones are read again under the raw-table lock just before
the commit, so an erasure that starts while a batch is being built cannot be outrun (erasure
writes the tombstone before it purges the table under the same lock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.catalog import asset_written, run_event, run_id_for
from libs.common.crypto import get_data_keys
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.lake_locks import raw_events_locked
from libs.common.lake_tables import RAW_EVENTS
from libs.common.subjects import subject_key
from services.ingest.config import IngestSettings
from services.ingest.flush import metrics
from services.ingest.flush.landing import build_batch, identifiers_in
from services.ingest.flush.raw_table import RawEventsTable
from services.ingest.outbox import metrics as outbox_metrics
from services.ingest.outbox import repository
from services.ingest.outbox.repository import PendingRow

log = structlog.get_logger(__name__)


@dataclass
class FlushReport:
    batches: int = 0
    recovered: int = 0
    rows: int = 0
    bytes: int = 0
    batch_ids: list[int] = field(default_factory=list)


async def land_batch(
    engine: AsyncEngine,
    owner: AsyncConnection,
    table: RawEventsTable,
    batch: repository.ClaimedBatch,
    settings: IngestSettings,
    *,
    recovering: bool = False,
) -> tuple[int, int]:
    """Land one claimed batch that `owner`'s session has locked (idempotent).

    Returns (rows, bytes) newly landed."""
    batch_id = batch.id
    if recovering and table.holds_batch(batch.token):
        async with engine.begin() as conn:
            rows = await repository.batch_rows(conn, batch_id)
            erased = await erased_users(conn, rows, settings)
            await retire(conn, batch_id, erased, rows, lake_version=None, bytes_landed=0)
        log.info("flush_batch_already_landed", batch_id=batch_id)
        return 0, 0

    started = time.perf_counter()
    async with engine.begin() as conn:  # its own transaction: new keys commit before use
        rows = await repository.batch_rows(conn, batch_id)
        subjects = {u: subject_key(u, settings) for u in {r.user_id for r in rows}}
        keys = await get_data_keys().for_subjects(conn, subjects.values(), create=True)
        # a cached key can outlive its user's erasure by the cache TTL: the tombstone decides
        for gone in await repository.tombstoned(conn, sorted(keys)):
            del keys[gone]
    erased = {u for u, s in subjects.items() if s not in keys}
    kept = [r for r in rows if r.user_id not in erased]
    async with engine.begin() as conn:
        await repository.save_identifiers(conn, identifiers_in(kept))
        known = await repository.identifiers_for(conn, sorted({r.user_id for r in kept}))
    if not kept:
        async with engine.begin() as conn:
            await retire(conn, batch_id, erased, rows, lake_version=None, bytes_landed=0)
        return 0, 0

    built = build_batch(kept, batch_id=batch_id, known=known, settings=settings, keys=keys)
    async with raw_events_locked(owner):
        late = await repository.tombstoned(owner, sorted(keys))
        await owner.commit()
        if late:  # erased while the batch was being built
            erased |= {u for u, s in subjects.items() if s in late}
            built.table = built.table.filter(
                pc.invert(pc.is_in(built.table["subject_key"], pa.array(sorted(late), pa.string())))
            )
        landed = table.append(built.table, token=batch.token)
    async with engine.begin() as conn:
        await retire(
            conn, batch_id, erased, rows, lake_version=landed.version, bytes_landed=landed.bytes
        )
    run_event(  # lineage: the batch is a run that wrote this version of raw/events
        run_id_for("ingest.flush", str(batch_id)), job="ingest.flush", service="ingest",
        state="COMPLETE", outputs=[(RAW_EVENTS, landed.version)],
        facets={"batch_id": batch_id, "rows": landed.rows},
    )  # fmt: skip

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


async def erased_users(
    conn: AsyncConnection, rows: list[PendingRow], settings: IngestSettings
) -> set[str]:
    subjects = {u: subject_key(u, settings) for u in {r.user_id for r in rows}}
    gone = await repository.tombstoned(conn, sorted(subjects.values()))
    return {u for u, s in subjects.items() if s in gone}


async def retire(
    conn: AsyncConnection,
    batch_id: int,
    erased: set[str],
    rows: list[PendingRow],
    *,
    lake_version: int | None,
    bytes_landed: int,
) -> None:
    """Mark the batch landed; its rows of erased users are deleted, not landed."""
    if erased:
        await repository.drop_outbox_rows(conn, batch_id, sorted(erased))
        refused = sum(1 for r in rows if r.user_id in erased)
        metrics.ROWS_REFUSED_ERASED.inc(refused)
        log.info("flush_rows_refused_erased", batch_id=batch_id, rows=refused)
    await repository.mark_landed(
        conn, batch_id, lake_version=lake_version, bytes_landed=bytes_landed
    )


async def flush_outbox(
    settings: IngestSettings, lake: Lake, *, max_batches: int | None = None
) -> FlushReport:
    """Land every pending row (or `max_batches` new batches), orphaned batches first.

    Any number of flushers may run at once; each lands the batches it claims."""
    report = FlushReport()
    engine = one_shot_engine(settings.database_url)
    table = RawEventsTable(lake, RAW_EVENTS)
    try:
        async with engine.connect() as owner:  # this flusher's session: its locks live here
            async with engine.begin() as conn:
                unfinished = await repository.unfinished_batches(conn)
            for orphan in unfinished:
                if not await repository.lock_batch(owner, orphan.id):
                    await owner.commit()
                    continue  # a live flusher is landing it
                await owner.commit()
                try:
                    async with engine.connect() as conn:
                        still_claimed = await repository.batch_is_claimed(conn, orphan.id)
                    if still_claimed:
                        rows, size = await land_batch(
                            engine, owner, table, orphan, settings, recovering=True
                        )
                        report.recovered += 1
                        report.rows += rows
                        report.bytes += size
                finally:
                    await repository.unlock_batch(owner, orphan.id)
                    await owner.commit()
            while max_batches is None or report.batches < max_batches:
                claimed = await repository.claim_batch(owner, settings.ingest_flush_batch_rows)
                await owner.commit()
                if claimed is None:
                    break
                try:
                    rows, size = await land_batch(engine, owner, table, claimed, settings)
                finally:
                    await repository.unlock_batch(owner, claimed.id)
                    await owner.commit()
                report.batches += 1
                report.batch_ids.append(claimed.id)
                report.rows += rows
                report.bytes += size
            depth, oldest = await repository.outbox_depth(owner)
            await owner.commit()
        outbox_metrics.OUTBOX_DEPTH.set(depth)
        outbox_metrics.OUTBOX_OLDEST_AGE.set(oldest)
    finally:
        await engine.dispose()
    if report.rows:  # once per flush, after its Delta commits and the batches' marks
        asset_written(RAW_EVENTS, service="ingest")
    return report
