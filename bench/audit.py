"""The cost of `audit()` on a request: the same read endpoint with and without auditing.

    .venv/bin/python -m bench.audit                         # 32 concurrent clients, 5 s each
    .venv/bin/python -m bench.audit --concurrency 128 --duration 10

In one process: a small FastAPI app with `GET /plain/{id}` (one SELECT through the pool, like
a read of a user's data) and `GET /audited/{id}` (the same plus `await audit(...)`), driven
over ASGI by concurrent clients. Prints requests/s, p50/p99 for both, the ratio, and checks
durability: the outbox holds one row per audited 2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from fastapi import FastAPI, Request

DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/mindlake_bench"


async def drive(app: object, path: str, concurrency: int, duration_s: float) -> list[float]:
    import httpx

    latencies: list[float] = []
    deadline = time.perf_counter() + duration_s
    transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

        async def client(n: int) -> None:
            i = 0
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                reply = await http.get(f"{path}/{n}-{i}", headers={"user-agent": "bench/1.0"})
                reply.raise_for_status()
                latencies.append(time.perf_counter() - start)
                i += 1

        await asyncio.gather(*(client(n) for n in range(concurrency)))
    return latencies


def report(name: str, latencies: list[float], duration_s: float) -> float:
    rate = len(latencies) / duration_s
    q = statistics.quantiles(latencies, n=100)
    print(f"{name:>8}: {rate:8.0f} req/s   p50 {q[49] * 1000:6.2f} ms   p99 {q[98] * 1000:6.2f} ms")
    return rate


async def main(args: argparse.Namespace) -> None:
    from sqlalchemy import text

    from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
    from libs.common.auth import Principal
    from libs.common.db import get_engine

    principal = Principal("benchkey", "bench", frozenset({"admin"}), frozenset({"*"}))
    app = FastAPI()

    @app.get("/plain/{user_id}")
    async def plain(user_id: str) -> dict[str, object]:
        async with get_engine().connect() as conn:
            value = await conn.scalar(text("SELECT 1"))
        return {"user_id": user_id, "value": value}

    @app.get("/audited/{user_id}")
    async def audited(user_id: str, request: Request) -> dict[str, object]:
        async with get_engine().connect() as conn:
            value = await conn.scalar(text("SELECT 1"))
        await audit(
            entry_from_request(
                request, principal, purpose=AuditPurpose.UserView, action=AuditAction.Read,
                asset="bench/profile", subject=user_id,
            )
        )  # fmt: skip
        return {"user_id": user_id, "value": value}

    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE common.audit_outbox"))
    await drive(app, "/plain", args.concurrency, 1.0)  # warm-up: pool, JIT-free paths
    await drive(app, "/audited", args.concurrency, 1.0)
    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE common.audit_outbox"))

    print(f"concurrency {args.concurrency}, {args.duration:.0f} s per run")
    base = report(
        "plain", await drive(app, "/plain", args.concurrency, args.duration), args.duration
    )
    audited_lat = await drive(app, "/audited", args.concurrency, args.duration)
    rate = report("audited", audited_lat, args.duration)
    print(f"audit()s per second: {rate:.0f}; throughput vs plain: {rate / base:.2f}x")
    async with get_engine().connect() as conn:
        rows = int(await conn.scalar(text("SELECT count(*) FROM common.audit_outbox")) or 0)
    verdict = "ok" if rows >= len(audited_lat) else "LOST ENTRIES"
    print(f"durability: {rows} outbox rows for {len(audited_lat)} audited replies: {verdict}")
    await get_engine().dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    cli = parser.parse_args()
    os.environ["MINDLAKE_DATABASE_URL"] = cli.database_url
    from bench.ingest import ensure_database
    from libs.common.migrate import upgrade_all

    asyncio.run(ensure_database(cli.database_url))
    upgrade_all(cli.database_url)
    asyncio.run(main(cli))
