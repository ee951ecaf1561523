"""Bulk consent check over 100,000 users: how fast, against what baseline.

    .venv/bin/python -m bench.consent_bulk [--users 100000] [--repeat 7] [--database-url URL]

Creates a fresh database (default `mindlake_consent_bench` on the local Postgres), migrates
it, seeds `--users` users with mixed consent (each purpose: granted, withdrawn, re-granted,
or never recorded; about 2.6 ledger entries per user and purpose recorded), then times, for
all ids and one purpose (median of `--repeat` runs, after a warm-up):

- baseline: `SELECT count(*) FROM unnest($1::text[])` — shipping the same ids to Postgres
  and back, no table touched: the floor for any one-query design;
- the checker: `libs.common.consent.allowed(ids, purpose)` (`= ANY` over `consent.current`,
  the state a trigger keeps beside the ledger);
- the same over a join with `unnest` instead of `= ANY`;
- derived on the fly: `DISTINCT ON (user_id)` over the ledger, the design without a
  current-state table;
- the API: `POST /v1/consent/check` in-process over ASGI (JSON parse + id validation + query +
  reply), with an admin key.

Every variant must return the same set (asserted). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bench.database import scratch_database

logging.getLogger("httpx").setLevel(logging.WARNING)

PURPOSES = ["ai_training", "analytics", "personalization", "risk_assessment", "research"]


async def timed(label: str, fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    result = await fn()  # warm-up (plans, caches)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


async def seed(dsn: str, users: int, rng: random.Random) -> list[str]:
    ids = [f"user-{i:07d}-{rng.getrandbits(24):06x}" for i in range(users)]
    u: list[str] = []
    p: list[str] = []
    g: list[bool] = []
    for uid in ids:
        for purpose in PURPOSES:
            for granted in rng.choice([[], [True], [False], [True, False], [True, False, True]]):
                u.append(uid)
                p.append(purpose)
                g.append(granted)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis, "
            "policy_version, source, actor_key_id, recorded_at) "
            "SELECT u, p, g, 'explicit_consent', '2026-11', 'import', 'bench', now() "
            "FROM unnest($1::text[], $2::text[], $3::boolean[]) WITH ORDINALITY AS t(u, p, g, n) "
            "ORDER BY n",
            u,
            p,
            g,
        )
        await conn.execute("ANALYZE consent.ledger; ANALYZE consent.current")
    finally:
        await conn.close()
    print(f"seeded {users:,} users, {len(u):,} ledger entries")
    return ids


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--purpose", default="research", choices=PURPOSES)
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/mindlake_consent_bench",
    )
    args = parser.parse_args()
    os.environ.setdefault("MINDLAKE_REDIS_URL", "redis://127.0.0.1:6379/14")
    async with scratch_database(args.database_url) as dsn:
        await run(args, dsn)


async def run(args: argparse.Namespace, dsn: str) -> None:
    import httpx

    from libs.common.auth import Scope, create_key
    from libs.common.consent import ConsentChecker
    from libs.common.db import session_maker
    from libs.common.migrate import upgrade_all

    await asyncio.to_thread(upgrade_all)
    ids = await seed(dsn, args.users, random.Random(7))
    purpose = args.purpose
    conn = await asyncpg.connect(dsn)
    checker = ConsentChecker()

    async def baseline() -> int:
        return int(await conn.fetchval("SELECT count(*) FROM unnest($1::text[])", ids))

    async def checker_allowed() -> set[str]:
        return await checker.allowed(ids, purpose)

    async def join_unnest() -> set[str]:
        rows = await conn.fetch(
            "SELECT c.user_id FROM unnest($1::text[]) AS i(user_id) "
            "JOIN consent.current c ON c.user_id = i.user_id "
            "WHERE c.purpose = $2 AND c.granted",
            ids,
            purpose,
        )
        return {r[0] for r in rows}

    async def any_array() -> set[str]:
        rows = await conn.fetch(
            "SELECT user_id FROM consent.current "
            "WHERE purpose = $2 AND granted AND user_id = ANY($1::text[])",
            ids,
            purpose,
        )
        return {r[0] for r in rows}

    async def distinct_on_ledger() -> set[str]:
        rows = await conn.fetch(
            "SELECT user_id FROM (SELECT DISTINCT ON (user_id) user_id, granted "
            "FROM consent.ledger WHERE purpose = $2 AND user_id = ANY($1::text[]) "
            "ORDER BY user_id, id DESC) s WHERE granted",
            ids,
            purpose,
        )
        return {r[0] for r in rows}

    async with session_maker()() as session:
        _, key = await create_key(session, name="bench", scopes=[Scope.ADMIN], services=["*"])
        await session.commit()
    from services.consent.main import app

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://consent",
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        ) as http,
    ):

        async def api() -> set[str]:
            reply = await http.post("/v1/consent/check", json={"purpose": purpose, "user_ids": ids})
            reply.raise_for_status()
            return set(reply.json()["allowed"])

        base_s, count = await timed("baseline", baseline, args.repeat)
        assert count == len(ids)
        results: list[tuple[str, float, set[str]]] = []
        for label, fn in [
            ("checker allowed() (pooled, join unnest)", checker_allowed),
            ("asyncpg: join unnest, consent.current", join_unnest),
            ("asyncpg: = ANY($1), consent.current", any_array),
            ("asyncpg: DISTINCT ON over the ledger", distinct_on_ledger),
            ("POST /v1/consent/check (ASGI, JSON)", api),
        ]:
            seconds, found = await timed(label, fn, args.repeat)
            results.append((label, seconds, found))
    await conn.close()

    expected = results[0][2]
    assert all(found == expected for _, _, found in results), "variants disagree"
    n = len(ids)
    print(f"\n{n:,} ids, purpose {purpose}: {len(expected):,} allowed; median of {args.repeat}")
    print(f"{'variant':<46}{'ms':>9}{'ids/s':>14}{'x baseline':>12}")
    baseline_label = "baseline: count(*) FROM unnest($1)"
    print(f"{baseline_label:<46}{base_s * 1000:>9.1f}{n / base_s:>14,.0f}{1:>12.2f}")
    for label, seconds, _ in results:
        print(f"{label:<46}{seconds * 1000:>9.1f}{n / seconds:>14,.0f}{seconds / base_s:>12.2f}")


if __name__ == "__main__":
    asyncio.run(main())
