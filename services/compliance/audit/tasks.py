"""Celery tasks of the audit log."""

from __future__ import annotations

import asyncio

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from services.compliance.audit.service import chain_pending
from services.compliance.config import get_compliance_settings


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
