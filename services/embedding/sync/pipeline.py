"""The incremental run: for each source, the files raw/events gained since the watermark ->
consent -> decrypt -> documents -> chunks -> encode -> upsert -> watermark.

The watermark moves only after the upserts are acknowledged (`wait=True`), so a run that
dies is repeated from the same place and upserts the same point ids. After each upsert the
batch's users are checked again: one erased or withdrawn while the batch was being encoded
is removed at once, so a run racing an erasure cannot leave vectors behind it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from qdrant_client import models
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.consent import query_allowed, tombstoned
from libs.common.contracts import ConsentPurpose
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from services.embedding.backends.base import Embedder
from services.embedding.config import EmbeddingSettings
from services.embedding.sync import metrics, repository
from services.embedding.sync.plan import Planned, consented, decrypted, plan
from services.embedding.sync.reader import new_files, read_files
from services.embedding.vectors.store import (
    collection_name,
    delete_subjects,
    qdrant,
)
from services.embedding.vectors.writer import PointWriter

Progress = Callable[[str, int, int], None]
ENCODE_GROUP = 256  # chunks encoded, then handed to the writer while the next group encodes


def _lock_s(settings: EmbeddingSettings) -> float:
    return settings.embedding_qdrant_lock_timeout_s


def existing_ids(settings: EmbeddingSettings, collection: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    with qdrant(settings, lock_timeout_s=_lock_s(settings)) as client:
        if not client.collection_exists(collection):
            return set()
        found = client.retrieve(collection, ids=ids, with_payload=False, with_vectors=False)
    return {str(p.id) for p in found}


async def embed(
    engine: AsyncEngine,
    settings: EmbeddingSettings,
    embedder: Embedder,
    planned: list[Planned],
    counts: Counter[str],
    *,
    source: str,
) -> None:
    """Encode and upsert the planned chunks not yet in the collection, then drop the points of
    any of their users erased or withdrawn meanwhile."""
    collection = collection_name(embedder.info)
    present = existing_ids(settings, collection, [p.id for p in planned])
    todo = [p for p in planned if p.id not in present]
    counts["already_embedded"] += len(planned) - len(todo)
    writer = PointWriter(
        settings, collection, embedder.info.dimension, lock_timeout_s=_lock_s(settings)
    )
    with writer:
        for start in range(0, len(todo), ENCODE_GROUP):
            group = todo[start : start + ENCODE_GROUP]
            vectors = embedder.encode([p.text for p in group])
            writer.submit(
                [
                    models.PointStruct(id=p.id, vector=v.tolist(), payload=p.payload.as_payload())
                    for p, v in zip(group, vectors, strict=True)
                ]
            )
    counts["chunks"] += len(todo)
    metrics.CHUNKS.labels(collection, source).inc(len(todo))
    if todo:
        await recheck(engine, settings, collection, todo, counts)


async def recheck(
    engine: AsyncEngine,
    settings: EmbeddingSettings,
    collection: str,
    batch: list[Planned],
    counts: Counter[str],
) -> None:
    subject_of = {p.user_id: p.payload.subject_key for p in batch}
    async with engine.connect() as conn:
        erased = set(await tombstoned(conn, sorted(set(subject_of.values()))))
        allowed = set(await query_allowed(conn, sorted(subject_of), ConsentPurpose.PERSONALIZATION))
    withdrawn = {s for u, s in subject_of.items() if u not in allowed} - erased
    for reason, subjects in (("erased", erased), ("withdrawn", withdrawn)):
        if subjects:
            with qdrant(settings, lock_timeout_s=_lock_s(settings), vacuum=True) as client:
                counts[f"removed_{reason}"] += delete_subjects(client, collection, sorted(subjects))
            metrics.REMOVED.labels(collection, reason).inc(len(subjects))


async def sync(
    engine: AsyncEngine,
    lake: Lake,
    settings: EmbeddingSettings,
    embedder: Embedder,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One incremental run over every configured source; its counts."""
    collection = collection_name(embedder.info)
    run_id = await repository.start_run(engine, "sync", collection)
    started = time.monotonic()
    counts: Counter[str] = Counter()
    version: int | None = None
    try:
        await lag(engine, lake, settings, collection)  # the gauges, before catching up
        for source in settings.embedding_sources:
            since = await repository.watermark(engine, source, collection)
            version, files = new_files(lake, source, since)
            if version is None:
                break  # no raw/events table yet
            for done, (file, raw) in enumerate(read_files(lake, files), start=1):
                rows = raw.append_column(
                    "event_date", pa.array([file.event_date] * raw.num_rows, pa.date32())
                )
                counts["events"] += rows.num_rows
                await embed_rows(engine, settings, embedder, rows, counts, source=source)
                if progress is not None:
                    progress(source, done, len(files))
            await repository.advance(engine, source, collection, version)
        update_gauges(lake, settings, collection, embedder)
    except Exception as exc:
        await repository.finish_run(
            engine, run_id, counts=dict(counts), table_version=version, error=type(exc).__name__
        )
        raise
    finally:
        metrics.RUN_SECONDS.labels("sync").observe(time.monotonic() - started)
    result = dict(counts)
    await repository.finish_run(engine, run_id, counts=result, table_version=version)
    return {"run_id": str(run_id), "collection": collection, "table_version": version, **result}


async def embed_rows(
    engine: AsyncEngine,
    settings: EmbeddingSettings,
    embedder: Embedder,
    rows: pa.Table,
    counts: Counter[str],
    *,
    source: str,
) -> None:
    """Raw rows of one source (with `event_date`) to points: consent, decrypt, plan, embed."""
    rows = await consented(engine, rows, counts)
    if rows.num_rows == 0:
        return
    rows = await decrypted(engine, rows, settings)
    await embed(
        engine,
        settings,
        embedder,
        plan(rows, source, embedder, settings, counts),
        counts,
        source=source,
    )


def update_gauges(
    lake: Lake, settings: EmbeddingSettings, collection: str, embedder: Embedder
) -> None:
    """Points in the collection; lag is 0 after a run that reached the table's head."""
    with qdrant(settings, lock_timeout_s=_lock_s(settings)) as client:
        if client.collection_exists(collection):
            metrics.VECTORS.labels(collection).set(client.count(collection, exact=True).count)
    metrics.LAG_VERSIONS.labels(collection).set(0)
    metrics.LAG_SECONDS.labels(collection).set(0)


async def lag(
    engine: AsyncEngine, lake: Lake, settings: EmbeddingSettings, collection: str
) -> dict[str, float]:
    """How far the collection is behind raw/events: versions and the age of the oldest commit
    not yet embedded (the gauges, refreshed on demand)."""
    table = lake.delta_table(RAW_EVENTS)
    if table is None:
        return {"versions": 0, "seconds": 0.0}
    head = table.version()
    marks = [await repository.watermark(engine, s, collection) for s in settings.embedding_sources]
    oldest = min((-1 if m is None else m) for m in marks)
    behind = max(0, head - oldest)
    seconds = 0.0
    if behind:
        commits = [h for h in table.history(behind) if int(h.get("version", -1)) > oldest]
        times = [int(h["timestamp"]) for h in commits if "timestamp" in h]
        if times:
            seconds = max(0.0, datetime.now(UTC).timestamp() - min(times) / 1000)
    metrics.LAG_VERSIONS.labels(collection).set(behind)
    metrics.LAG_SECONDS.labels(collection).set(seconds)
    return {"versions": behind, "seconds": seconds}
