"""The lineage's Celery task: a job's run event (`catalog.record_run`), recorded and
forwarded to OpenLineage when a consumer is configured."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import shared_task

from libs.common.contracts import RunEvent, TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.catalog.config import get_catalog_settings
from services.catalog.lineage import openlineage, service
from services.catalog.lineage.metrics import RUN_EVENTS


@shared_task(name=TaskName.CATALOG_RECORD_RUN, acks_late=True, soft_time_limit=120, time_limit=150)
def record_run_task(**payload: Any) -> bool:
    """Record the run's state and edges (a repeat changes nothing); whether OpenLineage took it."""
    event = RunEvent.model_validate(payload)
    settings = get_catalog_settings()

    async def run() -> None:
        engine = one_shot_engine(settings.database_url)
        try:
            await service.record(engine, event)
        finally:
            await engine.dispose()

    asyncio.run(run())
    RUN_EVENTS.labels(event.state).inc()
    return openlineage.emit(settings, Lake(settings), event)
