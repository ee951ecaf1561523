"""A withdrawn user's points leave every collection (the consent.changed task and the sweep),
and the embedding.vectors store collects and erases a user's points."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import models

from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.subject_rights import SubjectContext
from libs.common.subjects import subject_key
from services.embedding.subjects.stores import VectorsStore
from services.embedding.sync.withdrawals import remove_users
from services.embedding.vectors.points import PointPayload, point_id
from services.embedding.vectors.store import ensure_collection, qdrant, subject_filter
from tests.embedding.lake_support import embedding_settings

pytestmark = pytest.mark.integration
COLLECTION = "mindlake_test-model_4"


def upsert(settings: Any, user: str, n: int = 2) -> str:
    key = subject_key(user, settings)
    now = datetime.now(UTC)
    points = []
    for i in range(n):
        payload = PointPayload(
            subject_key=key, event_id=f"e-{user}-{i}", service="journal-service",
            event_date=date(2026, 3, 2), event_time=now, chunk_index=0, chunk_start=0,
            chunk_end=5, chunks=1, model="test-model", model_version="1", embedded_at=now,
        )  # fmt: skip
        points.append(
            models.PointStruct(
                id=point_id("journal-service", payload.event_id, 0),
                vector=[1.0, float(i), 0.0, 0.5],
                payload=payload.as_payload(),
            )
        )
    with qdrant(settings) as client:
        ensure_collection(client, COLLECTION, 4)
        client.upsert(COLLECTION, points, wait=True)
    return key


def count(settings: Any, key: str) -> int:
    with qdrant(settings) as client:
        return client.count(COLLECTION, count_filter=subject_filter(key), exact=True).count


@pytest.fixture
def settings(lake_settings: Any, tmp_path: Path) -> Any:
    return embedding_settings(lake_settings, tmp_path / "qdrant")


async def test_remove_users_deletes_only_their_points(settings: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    gone, kept = upsert(settings, f"gone-{tag}"), upsert(settings, f"kept-{tag}")
    result = await remove_users(Lake(settings), settings, [gone])
    assert result == {"users": 1, "points": 2}
    assert count(settings, gone) == 0 and count(settings, kept) == 2


async def test_vectors_store_collects_and_erases(settings: Any, database: str) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    key = upsert(settings, user, n=3)
    ctx = SubjectContext(
        request_id=uuid.uuid4(), kind="erasure", user_id=user, subject_key=key, data_key=None,
        settings=settings, lake=Lake(settings), engine=get_engine(),
    )  # fmt: skip
    collected = await VectorsStore().collect(ctx)
    assert len(collected.records) == 3
    assert all(r["subject_key"] == key and len(r["vector"]) == 4 for r in collected.records)
    assert (await VectorsStore().erase(ctx))["points"] == 3
    assert count(settings, key) == 0


async def test_a_withdrawal_reaches_the_embedding_worker(
    settings: Any, lake_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
) -> None:  # fmt: skip
    """consent.changed (as the consent API sends it after a withdrawal) goes to the consent
    worker, which forwards it to the embedding worker, which deletes the user's points."""
    from libs.common.contracts import ConsentChanged, ConsentPurpose
    from services.consent.ledger.events import send
    from services.consent.worker import celery_app
    from tests.embedding.lake_support import set_consent
    from tests.integration.services import lake_env, pointed_at, tails, workers

    user = f"w-{uuid.uuid4().hex[:8]}"
    key, kept = upsert(settings, user), upsert(settings, f"k-{uuid.uuid4().hex[:8]}")
    await set_consent({user: False})
    env = lake_env(lake_settings) | {"MINDLAKE_QDRANT_PATH": settings.qdrant_path}
    event = ConsentChanged(
        user_id=user, purposes=[ConsentPurpose.PERSONALIZATION], granted=[], at=datetime.now(UTC)
    )
    with pointed_at(monkeypatch, env), workers(env, tmp_path, "consent", "embedding") as logs:
        send(celery_app, event, expires_s=60)
        for _ in range(600):  # up to a minute: the withdrawal's promise
            if count(settings, key) == 0:
                break
            await asyncio.sleep(0.1)
        assert count(settings, key) == 0, tails(logs)
    assert count(settings, kept) == 2
