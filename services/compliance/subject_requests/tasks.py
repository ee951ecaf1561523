"""Celery tasks that drive erasure and portability requests (service.py, receipt.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from celery import current_app, shared_task
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.contracts import TaskName
from libs.common.crypto import DataKeys
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.compliance.config import get_compliance_settings
from services.compliance.subject_requests import dispatch, receipt, service
from services.compliance.subject_requests.dispatch import Dispatch
from services.compliance.subject_requests.service import Deps


def _run(work: Callable[[AsyncEngine, Lake], Awaitable[list[tuple[uuid.UUID, Dispatch]]]]) -> int:
    settings = get_compliance_settings()
    lake = Lake(settings)

    async def go() -> list[tuple[uuid.UUID, Dispatch]]:
        engine = one_shot_engine()
        try:
            return await work(engine, lake)
        finally:
            await engine.dispose()

    sends = asyncio.run(go())
    for request_id, next_tasks in sends:  # after the commit, never before
        dispatch.send(
            current_app, lake, request_id, next_tasks, expires_s=settings.celery_task_expires_s
        )
    return len(sends)


@shared_task(
    name=TaskName.COMPLIANCE_SUBJECT_ADVANCE, acks_late=True, soft_time_limit=600, time_limit=660
)
def subject_advance(request_id: str) -> int:
    """A step reported back: move the request on if its phase is complete."""
    settings = get_compliance_settings()
    rid = uuid.UUID(request_id)

    async def work(engine: AsyncEngine, lake: Lake) -> list[tuple[uuid.UUID, Dispatch]]:
        deps = Deps(engine, lake, settings, DataKeys(settings))
        return [(rid, await service.advance(deps, rid))]

    return _run(work)


@shared_task(
    name=TaskName.COMPLIANCE_SUBJECT_VERIFY, acks_late=True, soft_time_limit=3000, time_limit=3100
)
def subject_verify(request_id: str) -> int:
    """Scan the lake, Postgres and Redis for the erased user; receipt when nothing is found."""
    settings = get_compliance_settings()
    rid = uuid.UUID(request_id)

    async def work(engine: AsyncEngine, lake: Lake) -> list[tuple[uuid.UUID, Dispatch]]:
        redis = Redis.from_url(settings.redis_url)
        try:
            deps = Deps(engine, lake, settings, DataKeys(settings), redis)
            next_tasks = await receipt.verify(deps, rid)
        finally:
            await redis.aclose()  # type: ignore[attr-defined]
        return [(rid, next_tasks)]

    return _run(work)


@shared_task(
    name=TaskName.COMPLIANCE_SUBJECT_SWEEP, acks_late=True, soft_time_limit=120, time_limit=150
)
def subject_sweep() -> int:
    """Beat: resend due and lost steps, re-check stalled scans, expire archives, gauges."""
    settings = get_compliance_settings()

    async def work(engine: AsyncEngine, lake: Lake) -> list[tuple[uuid.UUID, Dispatch]]:
        return await service.sweep(engine, lake, settings)

    return _run(work)
