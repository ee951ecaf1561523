"""The bench database and Redis: create, migrate, an ingest key, the outbox count."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import asyncpg

from bench.load.config import PYTHON, ROOT


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_database(url: str) -> None:
    dsn = asyncpg_dsn(url)
    name = dsn.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def outbox_rows(url: str, *, truncate: bool = False) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if truncate:
            await conn.execute("TRUNCATE ingest.outbox")
            await conn.execute("CHECKPOINT")  # no checkpoint from the previous run mid-way
            return 0
        return int(await conn.fetchval("SELECT count(*) FROM ingest.outbox"))
    finally:
        await conn.close()


def prepare(env: dict[str, str], key: str | None) -> str:
    asyncio.run(ensure_database(env["MINDLAKE_DATABASE_URL"]))
    mindlake = [str(Path(PYTHON).with_name("mindlake"))]
    subprocess.run([*mindlake, "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    if key:
        return key
    out = subprocess.run(
        [*mindlake, "keys", "create", "--name", "bench", "--scope", "ingest:write", "--quiet"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def flush_redis(url: str) -> None:
    with contextlib.suppress(Exception):
        import redis

        redis.Redis.from_url(url).flushdb()
