"""Celery tasks of retention."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from services.compliance.config import get_compliance_settings
from services.compliance.retention.service import run_task as run_retention


@shared_task(
    name=TaskName.COMPLIANCE_RETENTION, soft_time_limit=3300, time_limit=3600, acks_late=True
)
def retention(run_id: str | None = None) -> dict[str, Any]:
    """Beat, daily (and `POST /v1/retention/run`): delete what is past its retention policy."""
    return asyncio.run(run_retention(get_compliance_settings(), run_id))
