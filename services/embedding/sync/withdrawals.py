"""Removing the vectors of users who withdrew `personalization`: every collection's points
(deleted with wait, then counted to prove none is left) and their rows in the backups."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from libs.common.lake import Lake
from services.embedding.config import EmbeddingSettings
from services.embedding.vectors.store import delete_subjects, mindlake_collections, qdrant


def _remove_points(settings: EmbeddingSettings, subject_keys: list[str]) -> int:
    with qdrant(
        settings, lock_timeout_s=settings.embedding_qdrant_lock_timeout_s, vacuum=True
    ) as client:
        return sum(delete_subjects(client, c, subject_keys) for c in mindlake_collections(client))


def _drop_backups(lake: Lake, settings: EmbeddingSettings, subject_keys: list[str]) -> Any:
    try:
        module = importlib.import_module("services.embedding.backup.subjects")
    except ImportError:  # the backup part is not there
        return None
    drop = getattr(module, "drop_subjects", None)
    return None if drop is None else drop(lake, settings, subject_keys)


async def remove_users(
    lake: Lake, settings: EmbeddingSettings, subject_keys: list[str]
) -> dict[str, int]:
    """Delete the users' points everywhere and drop them from the backups."""
    keys = sorted(set(subject_keys))
    if not keys:
        return {"users": 0, "points": 0}
    points = await asyncio.to_thread(_remove_points, settings, keys)
    await asyncio.to_thread(_drop_backups, lake, settings, keys)
    return {"users": len(keys), "points": points}
