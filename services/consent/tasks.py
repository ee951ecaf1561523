"""Celery tasks the consent service consumes."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from celery import shared_task

from libs.common.consent import checker
from libs.common.contracts import ConsentChanged, TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.subject_rights import run_step_task
from services.consent import metrics
from services.consent.backup import backup_ledger
from services.consent.config import get_consent_settings
from services.consent.subject_stores import HANDLERS


@shared_task(name=TaskName.CONSENT_CHANGED, soft_time_limit=60, time_limit=90, acks_late=True)
def consent_changed(**payload: Any) -> dict[str, float]:
    """The event: re-invalidate the user's cached state (idempotent; covers an API process that
    died between its commit and its own invalidation) and refresh the consent-rate gauges."""
    event = ConsentChanged.model_validate(payload)
    return asyncio.run(_on_changed(event))


async def _on_changed(event: ConsentChanged) -> dict[str, float]:
    await checker.invalidate(event.user_id)
    engine = one_shot_engine()
    try:
        async with engine.connect() as conn:
            return await metrics.refresh(conn)
    finally:
        await engine.dispose()


@shared_task(name=TaskName.CONSENT_BACKUP, soft_time_limit=3000, time_limit=3600, acks_late=True)
def backup() -> dict[str, Any]:
    """Beat, daily: the ledger to `backups/consent_records/<date>_consent_backup.json.gz`."""
    return asyncio.run(_backup())


async def _backup() -> dict[str, Any]:
    settings = get_consent_settings()
    engine = one_shot_engine()
    try:
        report = await backup_ledger(engine, Lake(settings), prefix=settings.consent_backup_prefix)
        async with engine.connect() as conn:
            await metrics.refresh(conn)
    finally:
        await engine.dispose()
    return asdict(report)


@shared_task(
    name=TaskName.CONSENT_SUBJECT_STEP, acks_late=True, soft_time_limit=1800, time_limit=1900
)
def subject_step(request_id: str, store: str, phase: str) -> str:
    """One erasure/portability step of one of this service's stores (subject_stores.py)."""
    return run_step_task(HANDLERS, request_id, store, phase)
