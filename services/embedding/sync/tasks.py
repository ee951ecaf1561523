"""Celery tasks of the sync: `embedding.sync` (daily, and often when following the lake) and
`embedding.reconcile` (weekly). One run at a time per collection: a run that finds another
running skips (the next one catches up from the watermark)."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.embedding.backends.factory import embedder_for
from services.embedding.config import get_embedding_settings
from services.embedding.sync.pipeline import sync
from services.embedding.sync.reconcile import reconcile
from services.embedding.sync.repository import run_lock
from services.embedding.vectors.store import collection_name

RUNS = {"sync": sync, "reconcile": reconcile}


async def _run(kind: str) -> dict[str, Any]:
    settings = get_embedding_settings()
    embedder = embedder_for(settings)
    engine = one_shot_engine()
    try:
        async with run_lock(engine, collection_name(embedder.info)) as held:
            if not held:
                return {"skipped": "another run of this collection is in progress"}
            return await RUNS[kind](engine, Lake(settings), settings, embedder)
    finally:
        await engine.dispose()


@shared_task(
    name=TaskName.EMBEDDING_SYNC,
    acks_late=True,
    soft_time_limit=3 * 3600,
    time_limit=3 * 3600 + 120,
)
def sync_task() -> dict[str, Any]:
    """Embed what landed in raw/events since the watermark."""
    return asyncio.run(_run("sync"))


@shared_task(
    name=TaskName.EMBEDDING_RECONCILE,
    acks_late=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 120,
)
def reconcile_task() -> dict[str, Any]:
    """Add what is missing, remove vectors of erased or withdrawn users and deleted events."""
    return asyncio.run(_run("reconcile"))
