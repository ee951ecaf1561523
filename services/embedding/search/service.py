"""The search: the query's vector, a filter (the user's own points, or research-consenting
users'), Qdrant's nearest points, snippets from the lake."""

from __future__ import annotations

from typing import Any

import anyio
from qdrant_client import models

from libs.common.consent import granted
from libs.common.contracts import ConsentPurpose
from libs.common.db import get_engine
from libs.common.lake import get_lake
from libs.common.subjects import subject_key
from services.embedding.backends.factory import shared_embedder
from services.embedding.config import EmbeddingSettings
from services.embedding.search.schemas import Hit, SearchIn, SearchOut
from services.embedding.search.snippets import snippets
from services.embedding.vectors.store import collection_name, qdrant


async def research_subjects(settings: EmbeddingSettings) -> list[str]:
    """Subject keys of every user who grants `research` now."""
    async with get_engine().connect() as conn:
        users = await granted(conn, ConsentPurpose.RESEARCH)
    return sorted(subject_key(u, settings) for u in users)


def _filter(body: SearchIn, subjects: list[str]) -> models.Filter:
    must: list[Any] = [
        models.FieldCondition(key="subject_key", match=models.MatchAny(any=subjects))
    ]
    if body.services:
        must.append(models.FieldCondition(key="service", match=models.MatchAny(any=body.services)))
    if body.since or body.until:
        must.append(
            models.FieldCondition(
                key="event_time", range=models.DatetimeRange(gte=body.since, lte=body.until)
            )
        )
    return models.Filter(must=must)


def _nearest(
    settings: EmbeddingSettings, collection: str, vector: list[float], where: models.Filter, k: int
) -> list[Any]:
    with qdrant(settings, lock_timeout_s=settings.embedding_qdrant_lock_timeout_s) as client:
        if not client.collection_exists(collection):
            return []
        return list(
            client.query_points(
                collection, query=vector, query_filter=where, limit=k, with_payload=True
            ).points
        )


async def search(body: SearchIn, settings: EmbeddingSettings) -> SearchOut:
    embedder = await anyio.to_thread.run_sync(shared_embedder, settings)
    collection = collection_name(embedder.info)
    if body.scope == "personalization":
        assert body.user_id is not None
        subjects = [subject_key(body.user_id, settings)]
    else:
        subjects = await research_subjects(settings)
    if not subjects:
        return SearchOut(scope=body.scope, collection=collection, results=[])
    vectors = await anyio.to_thread.run_sync(embedder.encode, [body.query])
    found = await anyio.to_thread.run_sync(
        _nearest, settings, collection, vectors[0].tolist(), _filter(body, subjects), body.k
    )
    payloads = [p.payload or {} for p in found]
    texts = await snippets(get_engine(), get_lake(), settings, payloads)
    personal = body.scope == "personalization"
    results = [
        Hit(
            score=p.score,
            service=pl["service"],
            event_time=pl["event_time"],
            chunk_index=pl["chunk_index"],
            snippet=snippet,
            event_id=pl["event_id"] if personal else None,
        )
        for p, pl, snippet in zip(found, payloads, texts, strict=True)
    ]
    return SearchOut(scope=body.scope, collection=collection, results=results)
