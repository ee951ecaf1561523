"""Celery tasks the compliance service consumes."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.subject_rights import run_step_task
from services.compliance.config import get_compliance_settings
from services.compliance.report import daily as daily_report
from services.compliance.retention import run_task as run_retention
from services.compliance.service import chain_pending
from services.compliance.subject_stores import HANDLERS


async def _chain() -> int:
    engine = one_shot_engine()
    try:
        return await chain_pending(engine, get_compliance_settings().compliance_chain_batch_rows)
    finally:
        await engine.dispose()


@shared_task(
    name=TaskName.COMPLIANCE_CHAIN_AUDIT, soft_time_limit=300, time_limit=360, acks_late=True
)
def chain_audit() -> int:
    """Beat: append the audit outbox to the hash chain. Safe to run any number of times."""
    return asyncio.run(_chain())


@shared_task(
    name=TaskName.COMPLIANCE_SUBJECT_STEP, acks_late=True, soft_time_limit=1800, time_limit=1900
)
def subject_step(request_id: str, store: str, phase: str) -> str:
    """One erasure/portability step of one of this service's stores (subject_stores.py)."""
    return run_step_task(HANDLERS, request_id, store, phase)


@shared_task(
    name=TaskName.COMPLIANCE_RETENTION, soft_time_limit=3300, time_limit=3600, acks_late=True
)
def retention(run_id: str | None = None) -> dict[str, Any]:
    """Beat, daily (and `POST /v1/retention/run`): delete what is past its retention policy."""
    return asyncio.run(run_retention(get_compliance_settings(), run_id))


@shared_task(name=TaskName.COMPLIANCE_REPORT, soft_time_limit=600, time_limit=660, acks_late=True)
def report(day: str | None = None) -> str:
    """Beat, daily: yesterday's compliance report to `analytics/compliance/<day>.json`."""
    return asyncio.run(daily_report(get_compliance_settings(), day))
