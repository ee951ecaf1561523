"""The personas' Celery tasks: categorize one upload (stage 1 -> 2), then build its user's
personas (2 -> 3). Each is sent only after the commit that makes its work visible."""

from __future__ import annotations

import asyncio
import uuid

from celery import shared_task

from libs.common.contracts import Queue, TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.embedding.config import get_embedding_settings
from services.embedding.personas import repository, service
from services.embedding.worker import celery_app


def send_categorize(upload_id: uuid.UUID) -> None:
    celery_app.send_task(
        TaskName.EMBEDDING_PERSONA_CATEGORIZE,
        kwargs={"upload_id": str(upload_id)},
        queue=Queue.EMBEDDING.value,
        expires=86_400,
    )


def send_build(subject_key: str) -> None:
    celery_app.send_task(
        TaskName.EMBEDDING_PERSONA_BUILD,
        kwargs={"subject_key": subject_key},
        queue=Queue.EMBEDDING.value,
        expires=86_400,
    )


async def _categorize(upload_id: uuid.UUID) -> str:
    settings = get_embedding_settings()
    engine = one_shot_engine(settings.database_url)
    try:
        outcome = await service.categorize(
            engine=engine, settings=settings, lake=Lake(settings), upload_id=upload_id
        )
        if outcome == "categorized":
            async with engine.connect() as conn:
                row = await repository.get(conn, upload_id)
            if row is not None:
                send_build(row["subject_key"])
        return outcome
    finally:
        await engine.dispose()


@shared_task(
    name=TaskName.EMBEDDING_PERSONA_CATEGORIZE,
    acks_late=True,
    soft_time_limit=service.CATEGORIZE_LIMIT_S - 60,
    time_limit=service.CATEGORIZE_LIMIT_S,
)
def persona_categorize(upload_id: str) -> str:
    """Stage 1 -> 2 of one upload; a redelivery finds it taken or done and does nothing."""
    return asyncio.run(_categorize(uuid.UUID(upload_id)))


async def _build(subject_key: str) -> dict[str, int]:
    settings = get_embedding_settings()
    engine = one_shot_engine(settings.database_url)
    try:
        counts = await service.build(
            engine=engine, settings=settings, lake=Lake(settings), subject_key=subject_key
        )
        return {k: int(v) for k, v in counts.items()}
    finally:
        await engine.dispose()


@shared_task(
    name=TaskName.EMBEDDING_PERSONA_BUILD, acks_late=True, soft_time_limit=600, time_limit=660
)
def persona_build(subject_key: str) -> dict[str, int]:
    """Stage 2 -> 3: the user's personas rebuilt from all their categorized files."""
    return asyncio.run(_build(subject_key))
