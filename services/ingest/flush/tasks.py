"""Celery tasks of the flush: landing the outbox, compacting the raw table, pruning the outbox."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.lake import Lake
from services.ingest.config import get_ingest_settings
from services.ingest.flush.maintenance import compact, prune_outbox
from services.ingest.flush.service import flush_outbox


@shared_task(name=TaskName.INGEST_FLUSH, soft_time_limit=900, time_limit=960, acks_late=True)
def flush() -> dict[str, Any]:
    """Land everything committed to the outbox. Safe to run any number of times."""
    settings = get_ingest_settings()
    report = asyncio.run(flush_outbox(settings, Lake(settings)))
    return asdict(report)


@shared_task(name=TaskName.INGEST_COMPACT, soft_time_limit=3000, time_limit=3600, acks_late=True)
def compact_raw() -> dict[str, Any]:
    settings = get_ingest_settings()
    return asdict(asyncio.run(compact(settings, Lake(settings))))


@shared_task(name=TaskName.INGEST_PRUNE_OUTBOX, soft_time_limit=600, acks_late=True)
def prune() -> int:
    return asyncio.run(prune_outbox(get_ingest_settings()))
