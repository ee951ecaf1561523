"""The client against the real ingest API: uvicorn in a subprocess, on the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from libs.common.db import get_engine
from tests.conftest import _free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Api:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_api(port: int, log_path: Path) -> Api:
    """`uvicorn services.ingest.main:app` with this session's settings (database, Redis)."""
    log = log_path.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.ingest.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = Api(f"http://127.0.0.1:{port}", port, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the ingest API exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{api.url}/health", timeout=1).status_code == 200:
                return api
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    api.stop()
    raise RuntimeError(f"the ingest API did not start:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def ingest_api(
    database: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    api = start_api(_free_port(), tmp_path_factory.mktemp("api") / "uvicorn.log")
    yield api
    api.stop()


@pytest.fixture
def api_starter(tmp_path: Path) -> Iterator[Callable[[int], Api]]:
    """Start an ingest API on a given port later in a test; stopped at the end."""
    started: list[Api] = []

    def start(port: int) -> Api:
        api = start_api(port, tmp_path / f"uvicorn-{port}.log")
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


async def outbox_ids(event_ids: list[str]) -> list[str]:
    """The given ids found in ingest.outbox (a row per id, so a duplicate would show twice)."""
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            text("SELECT event_id FROM ingest.outbox WHERE event_id = ANY(:ids)"),
            {"ids": event_ids},
        )
        return [row[0] for row in rows]


async def wait_for_outbox(event_ids: list[str], within_s: float) -> list[str]:
    import asyncio

    deadline = time.monotonic() + within_s
    found: list[str] = []
    while time.monotonic() < deadline:
        found = await outbox_ids(event_ids)
        if len(found) >= len(event_ids):
            return found
        await asyncio.sleep(0.05)
    return found


@dataclass
class Recorded:
    headers: httpx.Headers
    content: bytes
    status: int = 0


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards to the network and keeps each request's headers and body (and status)."""

    inner: httpx.AsyncBaseTransport = field(default_factory=httpx.AsyncHTTPTransport)
    requests: list[Recorded] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        record = Recorded(request.headers, content)
        response = await self.inner.handle_async_request(request)
        record.status = response.status_code
        if request.url.path == "/v1/logs":
            self.requests.append(record)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class ThreadedServer:
    """A small ASGI app (a test double of the API) served by uvicorn in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def spilled_lines(directory: Path) -> int:
    if not directory.exists():
        return 0
    return sum(p.read_bytes().count(b"\n") for p in directory.glob("*.jsonl"))


async def wait_spill_empty(directory: Path, within_s: float) -> None:
    import asyncio

    for _ in range(int(within_s / 0.05)):
        if not spilled_lines(directory):
            return
        await asyncio.sleep(0.05)
