"""Fixtures and helpers of the pull-job tests: the admin client, job bodies, a Postgres
source table, the lake rows a job landed, and a local JSON API for HTTP sources."""

from __future__ import annotations

import http.server
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.lake_crypto import PULLED_COLUMNS
from services.ingest.config import IngestSettings
from services.ingest.pull import repository
from services.ingest.pull.schemas import table_path
from tests.ingest.lake_scan import decrypted_rows

SOURCE_DSN = os.environ["MINDLAKE_DATABASE_URL"].replace("+asyncpg", "")
EVERY_MINUTE = {"interval_s": 60}


# --- fixtures and helpers ---------------------------------------------------------------------
async def make_key(scopes: list[str]) -> str:
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"pull-{uuid.uuid4().hex[:6]}", scopes=scopes, services=["*"]
        )
        await session.commit()
    return key


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Any]:
    import httpx

    from services.ingest.main import app

    key = await make_key([Scope.ADMIN])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://ingest",
            headers={"Authorization": f"Bearer {key}"},
        ) as http,
    ):
        yield http


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create(admin: Any, body: dict[str, Any]) -> dict[str, Any]:
    reply = await admin.post("/v1/pull-jobs", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def job_row(job_id: int) -> dict[str, Any]:
    async with get_engine().connect() as conn:
        row = await repository.load_job(conn, job_id)
    return dict(row)


async def sql(statement: str, **params: Any) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text(statement), params)


async def landed(settings: IngestSettings, name: str) -> list[dict[str, Any]]:
    """The job's rows as a reader sees them: records of known users decrypted."""
    return await decrypted_rows(Lake(settings), table_path(name), PULLED_COLUMNS)


async def records(settings: IngestSettings, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(r["record"]) for r in await landed(settings, name)]


async def source_table() -> str:
    name = f"moods_{uuid.uuid4().hex[:8]}"
    await sql("CREATE SCHEMA IF NOT EXISTS pull_source_test")
    await sql(
        f"CREATE TABLE pull_source_test.{name} (id bigint PRIMARY KEY, user_id text,"
        " note text, updated_at timestamptz NOT NULL)"
    )
    return name


async def insert_rows(table: str, ids: range, *, at: datetime) -> None:
    for i in ids:
        await sql(
            f"INSERT INTO pull_source_test.{table} VALUES (:id, :user, :note, :at)",
            id=i,
            user=f"user-{i % 3}",
            note=f"felt better today, write me at person{i}@example.com",
            at=at + timedelta(seconds=i // 2),  # pairs share a cursor value
        )


def postgres_job(table: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": unique("moods"),
        "source": {
            "kind": "postgres",
            "dsn": SOURCE_DSN,
            "table_schema": "pull_source_test",
            "table": table,
            "cursor_column": "updated_at",
        },
        "schedule": EVERY_MINUTE,
        "landing": {"subject_field": "user_id", "keep_fields": ["updated_at"]},
        **extra,
    }


# --- HTTP source ----------------------------------------------------------------------------
@dataclass
class JsonApi:
    url: str  # http://127.0.0.1:<port>/moods
    port: int
    items: list[dict[str, Any]]
    hits: list[str]  # the path of every request the server received


@pytest.fixture
def json_api() -> Iterator[JsonApi]:
    """A tiny JSON API we own: GET /moods?since=N -> {"data": {"items": [id >= N]}}
    (inclusive, as many APIs are: the runner drops what it already has); GET /redirect
    answers 302 to the cloud metadata address."""
    items: list[dict[str, Any]] = []
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            query = parse_qs(urlsplit(self.path).query)
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            if self.headers.get("X-Token") != "t0ken":
                self.send_response(401)
                self.end_headers()
                return
            since = int(query.get("since", ["0"])[0])
            body = json.dumps({"data": {"items": [i for i in items if i["id"] >= since]}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    yield JsonApi(url=f"http://127.0.0.1:{port}/moods", port=port, items=items, hits=hits)
    server.shutdown()
    server.server_close()


LOCAL_HOSTS = "127.0.0.1,localhost"


def private_ok(settings: IngestSettings, hosts: str = LOCAL_HOSTS) -> IngestSettings:
    """Settings that let HTTP jobs call our local test server (loopback: private)."""
    return settings.model_copy(
        update={"ingest_pull_allowed_hosts": hosts, "ingest_pull_allow_private_addresses": True}
    )


@pytest.fixture
def api_settings(admin: Any) -> Iterator[dict[str, Any]]:
    """The settings the API checks a new job with: pass keys to `api_settings.update()`;
    the local test server is allowed until a test says otherwise."""
    from services.ingest.config import get_ingest_settings
    from services.ingest.main import app

    overrides: dict[str, Any] = {
        "ingest_pull_allowed_hosts": LOCAL_HOSTS,
        "ingest_pull_allow_private_addresses": True,
        "ingest_pull_timeout_s": 5.0,
    }
    app.dependency_overrides[get_ingest_settings] = lambda: IngestSettings(**overrides)
    yield overrides
    app.dependency_overrides.pop(get_ingest_settings, None)


def http_job(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": unique("api"),
        "source": {
            "kind": "http",
            "url": url,
            "headers": {"X-Token": "t0ken"},
            "records_path": "data.items",
            "cursor_param": "since",
            "cursor_field": "id",
        },
        "schedule": EVERY_MINUTE,
        **extra,
    }


async def stored_job_text(job_id: int) -> tuple[str, bytes, bytes]:
    """The job's row as Postgres holds it: every column as text, and the two sealed ones."""
    async with get_engine().connect() as conn:
        row = (
            await conn.execute(
                text("SELECT j::text, secret_key, secrets FROM ingest.pull_jobs j WHERE id = :i"),
                {"i": job_id},
            )
        ).one()
    return str(row[0]), bytes(row[1]), bytes(row[2])
