"""Restore: a collection rebuilt from a backup without re-embedding. Rows of users erased
since the backup cannot be opened (their key is gone) and are skipped."""

from __future__ import annotations

from typing import Any

from qdrant_client import QdrantClient, models
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.crypto import DataKeys
from libs.common.errors import NotFound
from libs.common.lake import Lake
from services.embedding.backup import files
from services.embedding.config import EmbeddingSettings
from services.embedding.vectors.store import ensure_collection

BATCH = 256


def find(lake: Lake, settings: EmbeddingSettings, model: str, day: str | None) -> files.BackupFile:
    mine = [
        b for b in files.list_backups(lake, settings.embedding_backup_prefix) if b.model == model
    ]
    if day is not None:
        mine = [b for b in mine if b.day == day]
    if not mine:
        raise NotFound(f"no backup of model {model!r}" + (f" on {day}" if day else ""))
    return mine[-1]


async def opened_rows(
    engine: AsyncEngine, lake: Lake, settings: EmbeddingSettings, backup: files.BackupFile
) -> tuple[list[tuple[str, list[float], dict[str, Any]]], int]:
    table = files.read(lake, backup.path)
    subjects = sorted(set(table.column("subject_key").to_pylist()))
    async with engine.connect() as conn:
        keys = await DataKeys(settings).for_subjects(conn, subjects)
    rows = files.opened(table, keys)
    return rows, table.num_rows - len(rows)


def rebuild(
    client: QdrantClient, collection: str, rows: list[tuple[str, list[float], dict[str, Any]]]
) -> None:
    """The collection replaced by the rows (dimension from the vectors)."""
    if client.collection_exists(collection):
        client.delete_collection(collection)
    if not rows:
        return
    ensure_collection(client, collection, len(rows[0][1]))
    for start in range(0, len(rows), BATCH):
        client.upsert(
            collection,
            points=[
                models.PointStruct(id=i, vector=v, payload=p)
                for i, v, p in rows[start : start + BATCH]
            ],
            wait=True,
        )
