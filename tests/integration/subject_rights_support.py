"""What the subject-rights end-to-end test stands on: its users' texts, the four service apps
on an S3 lake behind one admin key, and small helpers to post logs, wait and query Postgres.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker
from tests.integration.services import lake_env, pointed_at, tails

SENTENCES = [
    "The lighthouse keeper taught me to whistle through a blade of grass",
    "I keep a jar of sea glass from every beach I walked with grandmother",
    "Tonight the violet kayak finally felt like mine again after the storm",
]

# Replies that differ from user to user: the export drops near-duplicate pairs, and twelve
# users with one reply would leave a single pair, picked by arrival order.
OPENINGS = [
    "Thank you for telling me about this.",
    "That sounds like a heavy day to carry.",
    "I am glad you reached out tonight.",
    "It makes sense that this stays with you.",
]
SUGGESTIONS = [
    "Would you like to try a short breathing exercise together?",
    "Maybe writing down three small things that went well could help.",
    "A slow walk outside might give your mind some room.",
]


def unique_sentences(tag: str) -> list[str]:
    return [f"{s} ({tag})" for s in SENTENCES]


async def admin_key() -> str:
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"e2e-{uuid.uuid4().hex[:6]}", scopes=[Scope.ADMIN], services=["*"]
        )
        await session.commit()
    return key


async def wait_until(check: Any, within_s: float, logs: dict[str, Path], what: str) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{tails(logs)}")


async def scalar(sql: str, **params: Any) -> Any:
    async with get_engine().connect() as conn:
        return await conn.scalar(text(sql), params)


@pytest.fixture
def s3_lake(s3_server: str) -> Any:
    from services.compliance.config import ComplianceSettings

    return ComplianceSettings(
        lake_root=f"s3://mindlake-test/{uuid.uuid4().hex}",
        s3_endpoint_url=s3_server,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_allow_http=True,
    )


@pytest.fixture
async def apps(
    s3_lake: Any, monkeypatch: pytest.MonkeyPatch, database: str, redis_url: str
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    with pointed_at(monkeypatch, lake_env(s3_lake)):
        from services.compliance.main import create_app as compliance_app
        from services.consent.main import create_app as consent_app
        from services.embedding.main import create_app as embedding_app
        from services.export.main import create_app as export_app
        from services.ingest.main import create_app as ingest_app

        key = await admin_key()
        clients = {}
        apps = {
            "ingest": ingest_app(),
            "consent": consent_app(),
            "compliance": compliance_app(),
            "export": export_app(),
            "embedding": embedding_app(),
        }
        contexts = [app.router.lifespan_context(app) for app in apps.values()]
        for ctx in contexts:
            await ctx.__aenter__()
        try:
            for name, app in apps.items():
                clients[name] = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url=f"http://{name}",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=60,
                )
            yield clients
        finally:
            for client in clients.values():
                await client.aclose()
            for ctx in reversed(contexts):
                await ctx.__aexit__(None, None, None)


async def post_logs(ingest: httpx.AsyncClient, entries: list[dict[str, Any]]) -> dict[str, Any]:
    reply = await ingest.post("/v1/logs", json={"entries": entries})
    assert reply.status_code in (202, 207, 422), reply.text
    body: dict[str, Any] = reply.json()
    return body
