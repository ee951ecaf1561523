"""Removing the vectors of users who withdrew `personalization`: every collection's points
(deleted with wait, then counted to prove none is left) and their rows in the backups."""

from __future__ import annotations

import asyncio

from libs.common.lake import Lake
from services.embedding.backup.subjects import drop_subjects
from services.embedding.config import EmbeddingSettings
from services.embedding.vectors.store import delete_subjects, mindlake_collections, qdrant


def _remove_points(settings: EmbeddingSettings, subject_keys: list[str]) -> int:
    with qdrant(
        settings, lock_timeout_s=settings.embedding_qdrant_lock_timeout_s, vacuum=True
    ) as client:
        return sum(delete_subjects(client, c, subject_keys) for c in mindlake_collections(client))


async def remove_users(
    lake: Lake, settings: EmbeddingSettings, subject_keys: list[str]
) -> dict[str, int]:
    """Delete the users' points everywhere and drop them from the backups."""
    keys = sorted(set(subject_keys))
    if not keys:
        return {"users": 0, "points": 0}
    points = await asyncio.to_thread(_remove_points, settings, keys)
    await asyncio.to_thread(drop_subjects, lake, settings, keys)
    return {"users": len(keys), "points": points}
