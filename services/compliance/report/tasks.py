"""Celery tasks of the compliance report."""

from __future__ import annotations

import asyncio

from celery import shared_task

from libs.common.contracts import TaskName
from services.compliance.config import get_compliance_settings
from services.compliance.report.service import daily as daily_report


@shared_task(name=TaskName.COMPLIANCE_REPORT, soft_time_limit=600, time_limit=660, acks_late=True)
def report(day: str | None = None) -> str:
    """Beat, daily: yesterday's compliance report to `analytics/compliance/<day>.json`."""
    return asyncio.run(daily_report(get_compliance_settings(), day))
