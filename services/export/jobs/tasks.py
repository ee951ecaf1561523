"""Celery tasks of the export jobs: `export.run` and the beat's `export.scheduled`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.export.config import get_export_settings
from services.export.jobs import repository
from services.export.jobs.runner import period_range, run_export, spec_body


async def _run(
    export_id: str | None, period: str = "daily", today: date | None = None
) -> dict[str, Any] | None:
    settings = get_export_settings()
    engine = one_shot_engine()
    try:
        if export_id is None:  # a scheduled export: its job row first, one per period window
            start, end = period_range(period, today or datetime.now(UTC).date())
            async with engine.begin() as conn:
                job = await repository.create(
                    conn,
                    spec=spec_body(settings, start=start, end=end),
                    requested_by="beat",
                    schedule_key=f"{period}:{start}:{end}",
                )
            # A redelivered message gets the same job: run_export skips it if it is done or
            # still running elsewhere, and runs it again if its first worker died.
            export_id = str(job)
        row = await run_export(
            uuid.UUID(export_id), engine=engine, lake=Lake(settings), settings=settings
        )
        return None if row is None else {"id": export_id, "status": row["status"]}
    finally:
        await engine.dispose()


@shared_task(name=TaskName.EXPORT_RUN, acks_late=True, soft_time_limit=3300, time_limit=3600)
def run(export_id: str) -> dict[str, Any] | None:
    """One export job (POST /v1/exports, `mindlake export --queue`); a redelivered job
    runs again from the start (same names, same bytes)."""
    return asyncio.run(_run(export_id))


@shared_task(name=TaskName.EXPORT_SCHEDULED, acks_late=True, soft_time_limit=3300, time_limit=3600)
def scheduled(period: str = "daily") -> dict[str, Any] | None:
    """Beat: `daily` exports the day before, `weekly` the last 7 days."""
    return asyncio.run(_run(None, period))
