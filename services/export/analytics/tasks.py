"""Celery tasks of the analytics reports (beat: monthly on the 1st, weekly on Mondays)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.export.analytics import reports
from services.export.config import get_export_settings


async def _monthly(year: int | None, month: int | None) -> dict[str, Any]:
    if year is None or month is None:
        year, month = reports.previous_month(datetime.now(UTC).date())
    settings = get_export_settings()
    engine = one_shot_engine()
    try:
        return await reports.monthly_report(
            year, month, lake=Lake(settings), engine=engine, settings=settings
        )
    finally:
        await engine.dispose()


async def _weekly(iso_year: int | None, week: int | None) -> dict[str, Any]:
    if iso_year is None or week is None:
        iso_year, week = reports.previous_week(datetime.now(UTC).date())
    settings = get_export_settings()
    engine = one_shot_engine()
    try:
        return await reports.weekly_summary(
            iso_year, week, lake=Lake(settings), engine=engine, settings=settings
        )
    finally:
        await engine.dispose()


@shared_task(
    name=TaskName.EXPORT_MONTHLY_REPORT, soft_time_limit=3300, time_limit=3600, acks_late=True
)
def monthly_report(year: int | None = None, month: int | None = None) -> dict[str, Any]:
    """Beat, on the 1st: the month before's engagement CSV and service metrics Parquet."""
    return asyncio.run(_monthly(year, month))


@shared_task(
    name=TaskName.EXPORT_WEEKLY_SUMMARY, soft_time_limit=1800, time_limit=1900, acks_late=True
)
def weekly_summary(iso_year: int | None = None, week: int | None = None) -> dict[str, Any]:
    """Beat, on Mondays: the ISO week before's summary JSON."""
    return asyncio.run(_weekly(iso_year, week))
