"""Withdrawal within a minute: `consent.changed`, forwarded by the consent worker, removes a
user who withdrew `personalization` (their vectors; their personas' processing stopped and
all three stages deleted); the periodic sweep catches any event that was lost."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import shared_task

from libs.common.consent import withdrawn
from libs.common.contracts import ConsentChanged, ConsentPurpose, TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.subjects import subject_key
from services.embedding.config import EmbeddingSettings, get_embedding_settings
from services.embedding.personas.repository import unstopped
from services.embedding.personas.service import withdraw as withdraw_personas
from services.embedding.sync.withdrawals import remove_users

PERSONALIZATION = ConsentPurpose.PERSONALIZATION


@shared_task(  # type: ignore[untyped-decorator]
    name=TaskName.EMBEDDING_CONSENT_CHANGED, acks_late=True, soft_time_limit=60, time_limit=90
)
def consent_changed(**payload: Any) -> dict[str, int]:
    event = ConsentChanged.model_validate(payload)
    purposes = {str(p) for p in event.purposes}
    granted = {str(p) for p in event.granted}
    if PERSONALIZATION.value not in purposes or PERSONALIZATION.value in granted:
        return {"users": 0, "points": 0}
    settings = get_embedding_settings()
    keys = [subject_key(event.user_id, settings)]
    return asyncio.run(_remove(settings, keys, all_personas=True))


async def _remove(
    settings: EmbeddingSettings, keys: list[str], *, all_personas: bool
) -> dict[str, int]:
    """Their vectors, and their personas' processing stopped and all three stages deleted."""
    counts = await remove_users(Lake(settings), settings, keys)
    engine = one_shot_engine(settings.database_url)
    try:
        if not all_personas:  # the sweep: only users with something left to stop
            async with engine.connect() as conn:
                keys = await unstopped(conn, keys) if keys else []
        stopped = await withdraw_personas(
            engine=engine, settings=settings, lake=Lake(settings), subject_keys=keys
        )
    finally:
        await engine.dispose()
    return counts | stopped


async def _sweep() -> dict[str, int]:
    settings = get_embedding_settings()
    engine = one_shot_engine()
    try:
        async with engine.connect() as conn:
            users = await withdrawn(conn, PERSONALIZATION)
    finally:
        await engine.dispose()
    keys = [subject_key(u, settings) for u in users]
    return await _remove(settings, keys, all_personas=False)


@shared_task(  # type: ignore[untyped-decorator]
    name=TaskName.EMBEDDING_DROP_WITHDRAWN, acks_late=True, soft_time_limit=600, time_limit=660
)
def drop_withdrawn() -> dict[str, int]:
    """The sweep: every user whose `personalization` is withdrawn has no point left."""
    return asyncio.run(_sweep())
