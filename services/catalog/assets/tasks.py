"""The asset catalog's Celery tasks: a writer's hint (`catalog.register`) and the daily
reconcile (`catalog.reconcile`)."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import shared_task

from libs.common.contracts import AssetWritten, TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.catalog.assets import service
from services.catalog.config import get_catalog_settings


@shared_task(name=TaskName.CATALOG_REGISTER, acks_late=True, soft_time_limit=600, time_limit=660)
def register_task(**payload: Any) -> str | None:
    """Inspect and record the asset a writer just committed (a repeat only refreshes it)."""
    event = AssetWritten.model_validate(payload)
    settings = get_catalog_settings()

    async def run() -> str | None:
        engine = one_shot_engine(settings.database_url)
        try:
            return await service.register(
                engine=engine, lake=Lake(settings), settings=settings, path=event.path,
                writer=event.service,
            )  # fmt: skip
        finally:
            await engine.dispose()

    return asyncio.run(run())


@shared_task(name=TaskName.CATALOG_RECONCILE, acks_late=True, soft_time_limit=3600, time_limit=3720)
def reconcile_task() -> dict[str, int]:
    """Every asset in the lake found, inspected and recorded; the vanished marked missing."""
    settings = get_catalog_settings()

    async def run() -> dict[str, int]:
        engine = one_shot_engine(settings.database_url)
        try:
            return await service.reconcile(engine=engine, lake=Lake(settings), settings=settings)
        finally:
            await engine.dispose()

    return asyncio.run(run())
