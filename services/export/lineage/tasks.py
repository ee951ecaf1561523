"""Celery tasks of the lineage: the beat's `export.drop_withdrawn`."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.export.config import get_export_settings
from services.export.lineage.withdrawals import drop_withdrawn


async def _drop_withdrawn() -> dict[str, Any]:
    settings = get_export_settings()
    engine = one_shot_engine()
    try:
        return await drop_withdrawn(engine, Lake(settings), settings)
    finally:
        await engine.dispose()


@shared_task(
    name=TaskName.EXPORT_DROP_WITHDRAWN, acks_late=True, soft_time_limit=1800, time_limit=1900
)
def withdrawn() -> dict[str, Any]:
    """Beat: remove the lines of users who withdrew ai_training from finished exports."""
    return asyncio.run(_drop_withdrawn())
