"""The weekly reconcile: the collection made to match the lake and the consents of today.

Every source's current rows are planned as a sync would plan them (consent, decryption,
documents, chunks; no encoding), which gives the point ids that should exist. Missing ones
are embedded; then the points that should not exist are removed: those of erased or
withdrawn users, of events no longer in the lake (retention, erasure) and chunks a changed
chunking no longer makes. New vectors are written before old ones are removed, so a failed
run never leaves a document without vectors.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pyarrow.compute as pc
from qdrant_client import models
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.lake import Lake, read_delta
from libs.common.lake_tables import RAW_EVENTS
from services.embedding.backends.base import Embedder
from services.embedding.config import EmbeddingSettings
from services.embedding.sync import metrics, repository
from services.embedding.sync.pipeline import embed, update_gauges
from services.embedding.sync.plan import Planned, consented, decrypted, plan
from services.embedding.sync.reader import COLUMNS
from services.embedding.vectors.store import collection_name, qdrant, scroll_all

DELETE_BATCH = 1000


def present_ids(settings: EmbeddingSettings, collection: str) -> set[str]:
    with qdrant(settings, lock_timeout_s=settings.embedding_qdrant_lock_timeout_s) as client:
        if not client.collection_exists(collection):
            return set()
        points = scroll_all(client, collection, with_payload=False, with_vectors=False)
        return {str(p.id) for p in points}


async def planned_now(
    engine: AsyncEngine, lake: Lake, settings: EmbeddingSettings, embedder: Embedder,
    counts: Counter[str],
) -> dict[str, list[Planned]]:  # fmt: skip
    """Per source, every chunk the lake and today's consents call for."""
    table = lake.delta_table(RAW_EVENTS)
    out: dict[str, list[Planned]] = {}
    if table is None:
        return out
    for source in settings.embedding_sources:
        rows = read_delta(table, [*COLUMNS, "event_date"], partitions=pc.field("service") == source)
        counts["events"] += rows.num_rows
        rows = await consented(engine, rows, counts)
        if rows.num_rows:
            rows = await decrypted(engine, rows, settings)
        out[source] = plan(rows, source, embedder, settings, counts) if rows.num_rows else []
    return out


async def reconcile(
    engine: AsyncEngine, lake: Lake, settings: EmbeddingSettings, embedder: Embedder
) -> dict[str, Any]:
    collection = collection_name(embedder.info)
    run_id = await repository.start_run(engine, "reconcile", collection)
    started = time.monotonic()
    counts: Counter[str] = Counter()
    try:
        wanted = await planned_now(engine, lake, settings, embedder, counts)
        for source, planned in wanted.items():  # embed skips ids already present
            await embed(engine, settings, embedder, planned, counts, source=source)
        expected = {p.id for planned in wanted.values() for p in planned}
        stale = sorted(present_ids(settings, collection) - expected)
        lock_s = settings.embedding_qdrant_lock_timeout_s
        with qdrant(settings, lock_timeout_s=lock_s, vacuum=bool(stale)) as client:
            for start in range(0, len(stale), DELETE_BATCH):
                ids: list[Any] = stale[start : start + DELETE_BATCH]
                client.delete(
                    collection, points_selector=models.PointIdsList(points=ids), wait=True
                )
        counts["removed_stale"] += len(stale)
        metrics.REMOVED.labels(collection, "stale").inc(len(stale))
        update_gauges(lake, settings, collection, embedder)
    except Exception as exc:
        await repository.finish_run(engine, run_id, counts=dict(counts), error=type(exc).__name__)
        raise
    finally:
        metrics.RUN_SECONDS.labels("reconcile").observe(time.monotonic() - started)
    await repository.finish_run(engine, run_id, counts=dict(counts))
    return {"run_id": str(run_id), "collection": collection, **dict(counts)}
