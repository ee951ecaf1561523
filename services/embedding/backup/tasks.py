"""Celery task of the backups: `embedding.backup` (daily), every mindlake_ collection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.embedding.backup.writer import all_points, backup_collection
from services.embedding.config import EmbeddingSettings, get_embedding_settings
from services.embedding.sync import repository
from services.embedding.vectors.store import mindlake_collections, qdrant


async def backup_all(
    engine: AsyncEngine, lake: Lake, settings: EmbeddingSettings
) -> dict[str, Any]:
    """Today's backup of every collection; what was written."""
    day = datetime.now(UTC).date()
    with qdrant(settings, lock_timeout_s=settings.embedding_qdrant_lock_timeout_s) as client:
        snapshot = {c: all_points(client, c) for c in mindlake_collections(client)}
    written: dict[str, Any] = {}
    for collection, points in snapshot.items():
        run_id = await repository.start_run(engine, "backup", collection)
        try:
            result = await backup_collection(engine, lake, settings, collection, points, day=day)
        except Exception as exc:
            await repository.finish_run(engine, run_id, counts={}, error=type(exc).__name__)
            raise
        counts = {
            "points": result["points"],
            "left_out": result["left_out"],
            "pruned": result["pruned"],
        }
        await repository.finish_run(engine, run_id, counts=counts)
        written[collection] = result
    return written


async def _backup() -> dict[str, Any]:
    settings = get_embedding_settings()
    engine = one_shot_engine()
    try:
        return await backup_all(engine, Lake(settings), settings)
    finally:
        await engine.dispose()


@shared_task(name=TaskName.EMBEDDING_BACKUP, acks_late=True, soft_time_limit=3600, time_limit=3700)
def backup() -> dict[str, Any]:
    """Every collection to embeddings/<model>/<date>/ in the lake."""
    return asyncio.run(_backup())
