"""Compliance fixtures: an API client of the compliance app per scope, a clean audit log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker


async def make_key(scopes: list[str]) -> str:
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"test-{uuid.uuid4().hex[:6]}", scopes=scopes, services=["*"]
        )
        await session.commit()
    return key


@pytest.fixture
async def clean_audit(database: str) -> AsyncIterator[None]:
    async with get_engine().begin() as conn:
        await conn.execute(
            text("TRUNCATE common.audit_outbox, compliance.audit_log, compliance.audit_chain_head")
        )
    yield


@pytest.fixture
async def app_transport(clean_audit: None) -> AsyncIterator[httpx.ASGITransport]:
    from services.compliance.main import app

    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app, client=("198.51.100.23", 50123))


def _client(transport: httpx.ASGITransport, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://compliance",
        headers={"Authorization": f"Bearer {key}", "User-Agent": "pytest-auditor/1.0"},
    )


@pytest.fixture
async def admin(app_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app_transport, await make_key([Scope.ADMIN])) as http:
        yield http


@pytest.fixture
async def auditor(app_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app_transport, await make_key([Scope.AUDIT_READ])) as http:
        yield http


@pytest.fixture
async def ingest_only(app_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app_transport, await make_key([Scope.INGEST_WRITE])) as http:
        yield http
