"""Test session: a fresh Postgres database per run (and per xdist worker), a Redis db of its
own, an S3 server over HTTP (moto's server mode), migrations applied once.

Everything real: nothing here is mocked.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ADMIN_DSN = os.environ.get(
    "MINDLAKE_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_DB = f"mindlake_test_{WORKER}_{os.getpid()}"  # parallel sessions do not collide
PG_HOSTPORT = ADMIN_DSN.split("@", 1)[1].rsplit("/", 1)[0]

# Settings are read from the environment once; set it before any service module is imported.
os.environ["MINDLAKE_ENVIRONMENT"] = "test"
os.environ["MINDLAKE_DATABASE_URL"] = f"postgresql+asyncpg://postgres@{PG_HOSTPORT}/{TEST_DB}"
# A Redis db per session (2-13) so parallel sessions' workers do not take each other's tasks.
os.environ.setdefault("MINDLAKE_REDIS_URL", f"redis://127.0.0.1:6379/{2 + os.getpid() % 12}")
os.environ["MINDLAKE_PII_HMAC_KEY"] = "test-hmac-key-not-secret"
os.environ["MINDLAKE_METRICS_PORT"] = "0"
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _create_database() -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{TEST_DB}"')
        finally:
            await conn.close()

    asyncio.run(run())


def _drop_database() -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    host, port = PG_HOSTPORT.split(":")
    if not _port_open(host, int(port)):
        pytest.exit(f"Postgres is not reachable at {PG_HOSTPORT}: run `make services`", 2)
    _create_database()
    from libs.common.migrate import upgrade_all

    upgrade_all()
    yield os.environ["MINDLAKE_DATABASE_URL"]
    _drop_database()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _port_open("127.0.0.1", 6379):
        pytest.exit("Redis is not reachable at 127.0.0.1:6379: run `make services`", 2)
    import redis

    client = redis.Redis.from_url(os.environ["MINDLAKE_REDIS_URL"])
    client.flushdb()
    return os.environ["MINDLAKE_REDIS_URL"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto in server mode: a real S3 API over HTTP, in its own process (delta-rs holds the
    GIL during its calls, so a server thread inside the test process would stall)."""
    import sys
    import time

    import boto3

    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not _port_open("127.0.0.1", port):
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            pytest.exit("the moto S3 server did not start", 2)
        time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket="mindlake-test")
    yield endpoint
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(params=["local", "s3"])
def lake_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """Ingest settings pointing at a fresh lake root: a local folder, then an S3 prefix."""
    from services.ingest.config import IngestSettings

    overrides: dict[str, object] = {"ingest_flush_batch_rows": 500}
    if request.param == "local":
        overrides["lake_root"] = f"file://{tmp_path / 'lake'}"
    else:
        endpoint = request.getfixturevalue("s3_server")
        overrides.update(
            lake_root=f"s3://mindlake-test/{uuid.uuid4().hex}",
            s3_endpoint_url=endpoint,
            s3_access_key_id="test",
            s3_secret_access_key="test",
            s3_allow_http=True,
        )
    yield IngestSettings(**overrides)  # type: ignore[arg-type]


@pytest.fixture
async def clean_outbox(database: str) -> AsyncIterator[None]:
    from sqlalchemy import text

    from libs.common.db import get_engine

    async with get_engine().begin() as conn:
        await conn.execute(
            text("TRUNCATE ingest.outbox, ingest.flush_batches, ingest.user_identifiers")
        )
    yield


@pytest.fixture
async def api_key(database: str) -> str:
    from libs.common.auth import Scope, create_key
    from libs.common.db import session_maker

    async with session_maker()() as session:
        _, key = await create_key(
            session,
            name=f"test-{uuid.uuid4().hex[:6]}",
            scopes=[Scope.INGEST_WRITE],
            services=["*"],
        )
        await session.commit()
    return key


@pytest.fixture
async def client(api_key: str, clean_outbox: None, redis_url: str) -> AsyncIterator[object]:
    import httpx

    from services.ingest.main import app

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://ingest",
            headers={"Authorization": f"Bearer {api_key}"},
        ) as http,
    ):
        yield http


@pytest.fixture
async def refusing_dead_letter_store(database: str) -> AsyncIterator[None]:
    """A trigger that makes every INSERT into ingest.dead_letters fail, for real."""
    from sqlalchemy import text

    from libs.common.db import get_engine

    name = f"h_refuse_{uuid.uuid4().hex[:8]}"
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                f"CREATE FUNCTION public.{name}() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'dead letters refused by the test'; END $$"
            )
        )
        await conn.execute(
            text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON ingest.dead_letters"
                f" FOR EACH STATEMENT EXECUTE FUNCTION public.{name}()"
            )
        )
    try:
        yield
    finally:
        async with get_engine().begin() as conn:
            await conn.execute(text(f"DROP TRIGGER {name} ON ingest.dead_letters"))
            await conn.execute(text(f"DROP FUNCTION public.{name}()"))


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
