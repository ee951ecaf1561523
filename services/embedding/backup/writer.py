"""The backup: every point of a collection (vectors and payloads) to the lake, sealed per user;
the newest `embedding_backup_keep` days kept per model."""

from __future__ import annotations

from datetime import date
from typing import Any

from qdrant_client import QdrantClient
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.catalog import asset_written
from libs.common.crypto import DataKeys
from libs.common.lake import Lake
from services.embedding.backup import files
from services.embedding.config import EmbeddingSettings
from services.embedding.vectors.store import scroll_all


def all_points(client: QdrantClient, collection: str) -> list[Any]:
    return list(scroll_all(client, collection))


async def backup_collection(
    engine: AsyncEngine,
    lake: Lake,
    settings: EmbeddingSettings,
    collection: str,
    points: list[Any],
    *,
    day: date,
) -> dict[str, Any]:
    subjects = sorted({str(k) for p in points if (k := (p.payload or {}).get("subject_key"))})
    async with engine.connect() as conn:
        keys = await DataKeys(settings).for_subjects(conn, subjects)
    table = files.seal_rows(points, keys)
    path = files.path_of(settings.embedding_backup_prefix, collection, day.isoformat())
    files.write(lake, path, table)
    pruned = prune(lake, settings)
    asset_written(
        f"{settings.embedding_backup_prefix}/{files.model_of(collection)}", service="embedding"
    )
    return {"path": path, "points": table.num_rows, "left_out": len(points) - table.num_rows,
            "pruned": pruned}  # fmt: skip


def prune(lake: Lake, settings: EmbeddingSettings) -> int:
    """Delete the backups of days beyond the newest `embedding_backup_keep` per model."""
    by_model: dict[str, list[files.BackupFile]] = {}
    for backup in files.list_backups(lake, settings.embedding_backup_prefix):
        by_model.setdefault(backup.model, []).append(backup)
    removed = 0
    for backups in by_model.values():
        days = sorted({b.day for b in backups})
        old = set(days[: -settings.embedding_backup_keep])
        for backup in backups:
            if backup.day in old:
                lake.delete(backup.path)
                removed += 1
    return removed
