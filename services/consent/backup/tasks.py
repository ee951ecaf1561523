"""Celery tasks of the consent backup: the daily `consent.backup`."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.consent.backup.service import backup_ledger
from services.consent.config import get_consent_settings
from services.consent.ledger import metrics


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
