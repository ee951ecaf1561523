"""An independent search for a user's traces in Postgres and Redis: every base table's rows
as text and every Redis value (Celery message bodies decoded), not the service's own scan.
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis
from sqlalchemy import text

from libs.common.db import get_engine


# --- independent search (not the service's own scan) -----------------------------------------
async def postgres_hits(needles: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    async with get_engine().connect() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables"
                    " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN"
                    " ('pg_catalog', 'information_schema')"
                )
            )
        ).all()
        for schema, table in tables:
            where = " OR ".join(f"strpos(t::text, :n{i}) > 0" for i in range(len(needles)))
            count = await conn.scalar(
                text(f'SELECT count(*) FROM "{schema}"."{table}" t WHERE {where}'),
                {f"n{i}": n for i, n in enumerate(needles)},
            )
            if count:
                found[f"{schema}.{table}"] = int(count)
    return found


async def redis_hits(redis_url: str, needles: list[str]) -> list[str]:
    redis = Redis.from_url(redis_url)
    found = []
    try:
        async for key in redis.scan_iter(count=500):
            kind = (await redis.type(key)).decode()
            if kind == "string":
                values = [await redis.get(key) or b""]
            elif kind == "list":
                values = await redis.lrange(key, 0, -1)
            elif kind == "hash":
                values = [k + b"=" + v for k, v in (await redis.hgetall(key)).items()]
            elif kind in ("set", "zset"):
                values = (
                    list(await redis.smembers(key))
                    if kind == "set"
                    else [m for m, _ in await redis.zrange(key, 0, -1, withscores=True)]
                )
            else:
                values = []
            blob = key + b"\n" + b"\n".join(values)
            blob += b"\n" + _kombu_bodies(values)
            if any(n.encode() in blob for n in needles):
                found.append(key.decode(errors="replace"))
    finally:
        await redis.aclose()
    return found


def _kombu_bodies(values: list[bytes]) -> bytes:
    import base64

    out = []
    for value in values:
        try:
            body = orjson.loads(value).get("body")
            out.append(base64.b64decode(body))
        except Exception:
            continue
    return b"\n".join(out)
