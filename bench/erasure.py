"""Erasing one user from a lake of 1 million raw events, every phase, against a baseline.

    .venv/bin/python -m bench.erasure [--events 1000000] [--users 20000] [--rebuild]

The lake is `bench.erasure_scan`'s (built once under var/bench, reused) copied to a scratch
folder, since an erasure changes it. A fresh database (`mindlake_erasure_bench` on the local
Postgres, `--database-url`) gets the users' data keys, wrapped by the local master key, and
Redis db 13 is the scan's Redis. Then the real code runs in this process, store by store, in
the order the workers would (there each service's steps run in parallel; here one after the
other, so the figure is an upper bound):

    create -> collect (every store) -> advance (needles, tombstone, key destroyed)
           -> erase (every store) -> advance -> verify (the whole lake, Postgres, Redis)

Printed: seconds per phase and per store, the total, and the total as a ratio to a plain
read of the whole raw/events table measured in the same run (the baseline: no erasure can
beat reading the table once). Target: the total under 5 minutes on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import os
import shutil
import time
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

BENCH_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/mindlake_erasure_bench"
REDIS_URL = "redis://127.0.0.1:6379/13"


async def fresh_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(
        url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0] + "/postgres"
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def store_keys(engine: Any, keys: dict[str, bytes]) -> None:
    from sqlalchemy import text

    from libs.common.crypto import DataKeys

    provider = DataKeys().provider
    subjects = list(keys)
    wrapped = [provider.wrap(keys[s]) for s in subjects]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO common.data_keys (subject_key, wrapped, provider, created_at)"
                " SELECT k, w, 'local', now()"
                " FROM unnest(CAST(:k AS text[]), CAST(:w AS bytea[])) AS s(k, w)"
            ),
            {"k": subjects, "w": wrapped},
        )


def _stores_module(service: str) -> Any:
    """Each service's registry of stores: `services.<service>.subjects.stores`."""
    return importlib.import_module(f"services.{service}.subjects.stores")


async def erase_one(lake: Any, user: str) -> dict[str, Any]:
    from libs.common.contracts import SubjectStore, queue_for
    from libs.common.crypto import DataKeys
    from libs.common.db import one_shot_engine
    from libs.common.subject_rights import Phase, run_step
    from services.compliance.config import ComplianceSettings
    from services.compliance.subject_requests import dispatch as request_dispatch
    from services.compliance.subject_requests import receipt as request_receipt
    from services.compliance.subject_requests import service as request_service

    owners = {queue_for(store) for store in SubjectStore}
    modules = [_stores_module(s) for s in owners]
    handlers = {store: h for m in modules for store, h in m.HANDLERS.items()}
    settings = ComplianceSettings()
    engine = one_shot_engine()
    redis = Redis.from_url(REDIS_URL)
    keys = DataKeys(settings)
    deps = request_service.Deps(engine, lake, settings, keys, redis)
    times: dict[str, float] = {}
    per_store: dict[str, float] = {}
    started = time.perf_counter()
    try:
        mark = time.perf_counter()
        request_id, _ = await request_service.create(
            engine, settings, keys, kind="erasure", user_id=user, actor="bench"
        )
        times["create"] = time.perf_counter() - mark
        for phase in (Phase.COLLECT, Phase.ERASE):
            mark = time.perf_counter()
            for store in SubjectStore:
                t0 = time.perf_counter()
                status = await run_step(
                    engine, lake, settings, handlers,
                    request_id=request_id, store=store.value, phase=phase,
                )  # fmt: skip
                assert status == "done", (store, phase, status)
                per_store[f"{phase} {store.value}"] = time.perf_counter() - t0
            times[phase] = time.perf_counter() - mark
            mark = time.perf_counter()
            request_dispatch.clean_up(lake, await request_service.advance(deps, request_id))
            times[f"advance after {phase}"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await request_receipt.verify(deps, request_id)
        times["verify"] = time.perf_counter() - mark
        info = await request_service.describe(engine, request_id)
        assert info is not None
        found = await request_receipt.receipt(engine, request_id)
    finally:
        await redis.aclose()
        await engine.dispose()
    total = time.perf_counter() - started
    receipt = found[1] if found else None
    return {"total": total, "times": times, "per_store": per_store, "status": info["status"],
            "last_error": info["last_error"], "receipt": receipt}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--database-url", default=BENCH_DB)
    args = parser.parse_args()

    work = Path("var/bench/erasure-work")
    os.environ.update(
        MINDLAKE_DATABASE_URL=args.database_url,
        MINDLAKE_REDIS_URL=REDIS_URL,
        MINDLAKE_LAKE_ROOT=f"file://{work.resolve()}",
        MINDLAKE_LOG_LEVEL="WARNING",
    )
    from bench.erasure_scan import ensure_lake, user_id
    from libs.common.db import one_shot_engine
    from libs.common.lake import Lake
    from libs.common.migrate import upgrade_all

    source, keys = ensure_lake(args)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source.root, work)
    lake = Lake()
    asyncio.run(fresh_database(args.database_url))
    upgrade_all()
    asyncio.run(Redis.from_url(REDIS_URL).flushdb())

    async def seed() -> None:
        engine = one_shot_engine()
        await store_keys(engine, keys)
        await engine.dispose()

    asyncio.run(seed())

    table = lake.delta_table("raw/events")
    assert table is not None
    mark = time.perf_counter()
    rows = table.to_pyarrow_table().num_rows
    baseline = time.perf_counter() - mark
    print(f"lake: {rows:,} raw events of {args.users:,} users, {len(table.file_uris())} files")
    print(f"baseline: a plain read of the whole table: {baseline:.2f} s")

    result = asyncio.run(erase_one(lake, user_id(args.users // 2)))
    for phase, seconds in result["times"].items():
        print(f"  {phase:<24} {seconds:8.2f} s")
    slow = sorted(result["per_store"].items(), key=lambda kv: -kv[1])[:6]
    for name, seconds in slow:
        print(f"    {name:<34} {seconds:8.2f} s")
    receipt = result["receipt"] or {}
    removed = receipt.get("stores", {}).get("ingest.raw_events", {}).get("removed")
    scanned = receipt.get("verification", {}).get("scanned")
    print(f"status: {result['status']}  raw events removed: {removed}  scanned: {scanned}")
    if result["last_error"]:
        print(f"last error: {result['last_error']}")
    print(f"erasure of one user: {result['total']:.1f} s = {result['total'] / baseline:.1f}x "
          f"the baseline (target: under 300 s)")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
