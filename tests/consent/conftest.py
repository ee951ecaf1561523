"""Consent API clients: an admin key, an `audit:read` key, and an ingest-only key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest


async def make_key(scope: str) -> str:
    from libs.common.auth import create_key
    from libs.common.db import session_maker

    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"consent-test-{uuid.uuid4().hex[:6]}", scopes=[scope], services=["*"]
        )
        await session.commit()
    return key


@pytest.fixture
def user_id() -> str:
    """A fresh user per test: the ledger is append-only, so tests never clean it."""
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def consent_app(database: str, redis_url: str) -> AsyncIterator[object]:
    from services.consent.main import app

    async with app.router.lifespan_context(app):
        yield app


def _client(app: object, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://consent",
        headers={**headers, "User-Agent": "consent-tests/1.0"},
    )


@pytest.fixture
async def admin(consent_app: object) -> AsyncIterator[httpx.AsyncClient]:
    from libs.common.auth import Scope

    async with _client(consent_app, await make_key(Scope.ADMIN)) as http:
        yield http


@pytest.fixture
async def auditor(consent_app: object) -> AsyncIterator[httpx.AsyncClient]:
    from libs.common.auth import Scope

    async with _client(consent_app, await make_key(Scope.AUDIT_READ)) as http:
        yield http


@pytest.fixture
async def ingest_only(consent_app: object) -> AsyncIterator[httpx.AsyncClient]:
    from libs.common.auth import Scope

    async with _client(consent_app, await make_key(Scope.INGEST_WRITE)) as http:
        yield http


@pytest.fixture
async def anonymous(consent_app: object) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(consent_app, None) as http:
        yield http
