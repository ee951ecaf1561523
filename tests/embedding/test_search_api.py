"""POST /v1/search over the real stack: the sync embeds landed events, the search finds the
user's own items with snippets read from the lake; consent and scopes are enforced; research
results name no one; an empty collection gives no results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from services.embedding.backends.local import LocalEmbedder
from services.embedding.sync.pipeline import sync
from tests.embedding.lake_support import Events, embedding_settings, set_consent
from tests.integration.services import lake_env, pointed_at

pytestmark = pytest.mark.integration
EMBEDDER = LocalEmbedder("torch", threads=1)


async def key(*scopes: str) -> str:
    async with session_maker()() as session:
        _, secret = await create_key(
            session, name="search-test", scopes=list(scopes), services=["*"]
        )
        await session.commit()
    return secret


@pytest.fixture
async def env(
    lake_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> AsyncIterator[Any]:
    async with get_engine().begin() as conn:
        await conn.execute(text("DELETE FROM embedding.watermarks"))
    qdrant_dir = tmp_path / "qdrant"
    settings = embedding_settings(lake_settings, qdrant_dir)
    variables = lake_env(lake_settings) | {
        "MINDLAKE_QDRANT_PATH": str(qdrant_dir),
        "MINDLAKE_EMBEDDING_BACKEND": "torch",
    }
    with pointed_at(monkeypatch, variables):
        yield settings


async def post(body: dict[str, Any], secret: str) -> httpx.Response:
    from services.embedding.main import app

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(
            "/v1/search", json=body, headers={"Authorization": f"Bearer {secret}"}
        )


async def test_search_personalization_and_research(env: Any) -> None:
    user_key, research_key = await key(Scope.EMBEDDING_USER), await key(Scope.EMBEDDING_RESEARCH)
    ev = Events(env)
    yes, no = ev.user("yes"), ev.user("no")
    await set_consent({yes: True, no: False})
    await set_consent({yes: True, no: False}, purpose="research")
    empty = await post({"scope": "personalization", "query": "canal", "user_id": yes}, user_key)
    assert empty.status_code == 200 and empty.json()["results"] == []
    ev.add(yes, "journal-service", title="Sunday", text="Walked by the canal and felt calmer.")
    ev.add(yes, "chat-service", message="see you at group tonight")
    ev.add(no, "journal-service", text="the canal at night frightens me")
    await ev.land()
    await sync(get_engine(), Lake(env), env, EMBEDDER)

    found = await post(
        {"scope": "personalization", "query": "walk by the water", "user_id": yes, "k": 2}, user_key
    )
    assert found.status_code == 200, found.text
    results = found.json()["results"]
    assert results[0]["service"] == "journal-service" and results[0]["event_id"]
    assert "canal" in results[0]["snippet"]

    refused = await post({"scope": "personalization", "query": "canal", "user_id": no}, user_key)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    wrong = await post({"scope": "research", "query": "canal"}, user_key)
    assert wrong.status_code == 403

    research = await post({"scope": "research", "query": "canal"}, research_key)
    assert research.status_code == 200, research.text
    rows = research.json()["results"]
    assert rows and all(r["event_id"] is None for r in rows)
    assert yes not in research.text and no not in research.text

    for bad in (
        {"scope": "research", "query": "x", "user_id": yes},
        {"scope": "personalization", "query": "x"},
        {"scope": "personalization", "query": "a\x00b", "user_id": yes},
        {"scope": "personalization", "query": "x", "user_id": yes, "k": 10_000},
    ):
        assert (
            await post(bad, user_key if bad["scope"] != "research" else research_key)
        ).status_code == 422
