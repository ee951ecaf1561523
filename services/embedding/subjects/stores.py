"""The embedding service's stores for erasure and portability (libs/common/subject_rights.py).

- `embedding.vectors`: the user's Qdrant points (by subject_key) in every mindlake_
  collection. Collect returns their payloads and vectors; erase deletes them and proves 0 left.
- `embedding.backups`: the Parquet backups of the collections (services/embedding/backup).
- `embedding.personas`: uploads, categorized files and personas (services/embedding/personas).
"""

from __future__ import annotations

import asyncio
from typing import Any

from qdrant_client import QdrantClient

from libs.common.contracts import SubjectStore
from libs.common.subject_rights import Collected, StoreHandler, SubjectContext
from services.embedding.backup.subjects import BackupsStore
from services.embedding.personas.subjects import PersonasStore
from services.embedding.vectors.store import (
    delete_subjects,
    mindlake_collections,
    qdrant,
    scroll_all,
    subject_filter,
)

# Tables without user data: per-source watermarks and run records (counts, no ids).
NO_SUBJECT_DATA: tuple[str, ...] = ("embedding.watermarks", "embedding.runs")


def _points(client: QdrantClient, collection: str, key: str) -> list[dict[str, Any]]:
    return [
        {
            "collection": collection,
            "id": str(p.id),
            **(p.payload or {}),
            "vector": p.vector if isinstance(p.vector, list) else None,
        }
        for p in scroll_all(client, collection, where=subject_filter(key), page=256)
    ]


class VectorsStore:
    tables: tuple[str, ...] = ()

    async def collect(self, ctx: SubjectContext) -> Collected:
        def run() -> list[dict[str, Any]]:
            with qdrant(ctx.settings) as client:
                return [
                    r
                    for c in mindlake_collections(client)
                    for r in _points(client, c, ctx.subject_key)
                ]

        # No needles: the points hold no text and no id (snippets are read from the lake).
        return Collected(records=await asyncio.to_thread(run))

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        def run() -> dict[str, int]:
            with qdrant(ctx.settings, vacuum=True) as client:
                return {
                    c: delete_subjects(client, c, [ctx.subject_key])
                    for c in mindlake_collections(client)
                }

        counts = await asyncio.to_thread(run)
        return {"points": sum(counts.values()), "collections": len(counts)}


HANDLERS: dict[str, StoreHandler] = {
    SubjectStore.EMBEDDING_VECTORS: VectorsStore(),
    SubjectStore.EMBEDDING_BACKUPS: BackupsStore(),
    SubjectStore.EMBEDDING_PERSONAS: PersonasStore(),
}
