"""Celery tasks of the risk service: the daily assessment (with retention), training,
alert delivery (retried with backoff until delivered or out of attempts) and monitoring."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from celery import Task, shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.risk.config import get_risk_settings
from services.risk.interventions.alerts import RetryableAlertError, deliver_alert, retry_delay
from services.risk.model.train import train
from services.risk.monitoring.drift import monitor
from services.risk.retention import purge_assessments
from services.risk.scoring import metrics
from services.risk.scoring.daily import assess_day


async def _with_engine(job: str, run: Callable[[Any], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    engine = one_shot_engine()
    try:
        result = await run(engine)
    except Exception:
        metrics.RUNS.labels(job, "failed").inc()
        raise
    finally:
        await engine.dispose()
    metrics.RUNS.labels(job, "done").inc()
    metrics.LAST_RUN.labels(job).set(datetime.now(UTC).timestamp())
    return result


@shared_task(name=TaskName.RISK_ASSESS, acks_late=True, soft_time_limit=3600, time_limit=3720)
def assess_task(day: str | None = None) -> dict[str, Any]:
    """Assess every consenting user for `day` (default: today, UTC), then apply retention."""
    settings = get_risk_settings()
    when = date.fromisoformat(day) if day else datetime.now(UTC).date()

    async def run(engine: Any) -> dict[str, Any]:
        result = await assess_day(engine, Lake(settings), settings, when)
        result["assessments_purged"] = await purge_assessments(engine, settings, when)
        return result

    return asyncio.run(_with_engine("assess", run))


@shared_task(
    name=TaskName.RISK_TRAIN, acks_late=True, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 120
)
def train_task(trigger: str = "schedule") -> dict[str, Any]:
    """Train a candidate, compare it with the rule baseline and the champion, maybe promote."""
    settings = get_risk_settings()

    async def run(engine: Any) -> dict[str, Any]:
        return await train(engine, Lake(settings), settings, trigger=trigger)

    return asyncio.run(_with_engine("train", run))


@shared_task(name=TaskName.RISK_MONITOR, acks_late=True, soft_time_limit=1800, time_limit=1900)
def monitor_task() -> dict[str, Any]:
    """Feature drift and score shift of the latest assessments against the champion's data."""
    settings = get_risk_settings()

    async def run(engine: Any) -> dict[str, Any]:
        return await monitor(engine, Lake(settings), settings)

    return asyncio.run(_with_engine("monitor", run))


@shared_task(
    name=TaskName.RISK_DELIVER_ALERT, bind=True, acks_late=True, max_retries=None,
    soft_time_limit=120, time_limit=180,
)  # fmt: skip
def deliver_alert_task(self: Task, intervention_id: str) -> str:
    """Post a critical escalation to the alert webhook; retried with backoff while the
    receiver is down (the row keeps every attempt; after the last it is `failed`, kept)."""
    settings = get_risk_settings()

    async def run() -> str:
        engine = one_shot_engine()
        try:
            return await deliver_alert(engine, settings, intervention_id)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except RetryableAlertError as exc:
        raise self.retry(countdown=retry_delay(exc.attempts, settings), exc=exc) from exc
