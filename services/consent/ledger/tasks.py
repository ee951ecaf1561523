"""Celery tasks of the consent ledger: the `consent.changed` event."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import current_app, shared_task

from libs.common.consent import checker
from libs.common.contracts import CONSENT_SUBSCRIBERS, ConsentChanged, TaskName, queue_for
from libs.common.db import one_shot_engine
from services.consent.ledger import metrics


@shared_task(name=TaskName.CONSENT_CHANGED, soft_time_limit=60, time_limit=90, acks_late=True)
def consent_changed(**payload: Any) -> dict[str, float]:
    """The event: re-invalidate the user's cached state (idempotent; covers an API process that
    died between its commit and its own invalidation) and refresh the consent-rate gauges."""
    event = ConsentChanged.model_validate(payload)
    result = asyncio.run(_on_changed(event))
    forward(event)
    return result


def forward(event: ConsentChanged) -> None:
    """The event to every subscribing service's task (contracts.CONSENT_SUBSCRIBERS), e.g. the
    embedding service removing a withdrawn user's vectors within the minute."""
    body = event.model_dump(mode="json")
    for name in CONSENT_SUBSCRIBERS:
        current_app.send_task(name, kwargs=body, queue=queue_for(name), expires=3600)


async def _on_changed(event: ConsentChanged) -> dict[str, float]:
    await checker.invalidate(event.user_id)
    engine = one_shot_engine()
    try:
        async with engine.connect() as conn:
            return await metrics.refresh(conn)
    finally:
        await engine.dispose()
