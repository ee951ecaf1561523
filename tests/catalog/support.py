"""The catalog tests' fixture and helpers: a fresh catalog over a sample lake, API keys, and
calls to the catalog app in process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from libs.common.auth import create_key
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from services.catalog.assets import service
from services.catalog.config import CatalogSettings
from tests.catalog.lake_samples import write_lake
from tests.conftest import _free_port
from tests.integration.services import REPO, lake_env, pointed_at


@pytest.fixture
async def catalog_env(
    lake_settings: Any, monkeypatch: pytest.MonkeyPatch, database: str
) -> AsyncIterator[CatalogSettings]:
    common = {k: getattr(lake_settings, k) for k in CommonSettings.model_fields}
    settings = CatalogSettings(**common)
    async with get_engine().begin() as conn:  # the catalog is one per database: start empty
        await conn.execute(text("DELETE FROM catalog.assets"))
        await conn.execute(text("DELETE FROM catalog.runs"))  # and their datasets (cascade)
    write_lake(Lake(settings))
    with pointed_at(monkeypatch, lake_env(lake_settings)):
        yield settings


async def reconcile(settings: CatalogSettings) -> dict[str, int]:
    return await service.reconcile(engine=get_engine(), lake=Lake(settings), settings=settings)


async def key(*scopes: str) -> str:
    async with session_maker()() as session:
        _, secret = await create_key(
            session, name=f"catalog-{uuid.uuid4().hex[:6]}", scopes=list(scopes), services=["*"]
        )
        await session.commit()
    return secret


async def call(secret: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
    from services.catalog.main import app

    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers
    ) as client:
        return await client.request(method, path, **kw)


@contextmanager
def ingest_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Ingest's real API (uvicorn on a free port, this session's database); its base URL."""
    port = _free_port()
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "services.ingest.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        cwd=REPO, env={**os.environ, **env, "MINDLAKE_METRICS_PORT": "0"},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError(log_path.read_text()[-3000:])
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
