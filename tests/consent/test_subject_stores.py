"""The consent stores for erasure and portability: the ledger (through the append-only guard's
one privileged path), the tombstone that refuses new consent, and the lake backups."""

from __future__ import annotations

import gzip
import uuid
from datetime import date

import httpx
import orjson
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from libs.common.consent import ConsentChecker, cache_key, generation_key
from libs.common.contracts import TaskName
from libs.common.db import get_engine, one_shot_engine
from libs.common.lake import Lake
from libs.common.settings import CommonSettings, get_settings
from libs.common.subject_rights import SubjectContext
from libs.common.subjects import subject_key
from services.consent.backup import service as backup
from services.consent.backup.service import backup_ledger
from services.consent.subjects.stores import Backups, Ledger


def context(user_id: str, lake: Lake | None = None) -> SubjectContext:
    settings = get_settings()
    return SubjectContext(
        request_id=uuid.uuid4(),
        kind="erasure",
        user_id=user_id,
        subject_key=subject_key(user_id, settings),
        data_key=None,
        settings=settings,
        lake=lake or Lake(settings),
        engine=get_engine(),
    )


def change(policy: str = "v1", **purposes: bool) -> dict[str, object]:
    return {"purposes": purposes, "policy_version": policy}


async def count(sql: str, **params: object) -> int:
    async with get_engine().connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


async def test_collect_returns_the_users_ledger_history(
    admin: httpx.AsyncClient, user_id: str
) -> None:
    await admin.put(f"/v1/consent/{user_id}", json=change(research=True, analytics=False))
    await admin.put(f"/v1/consent/{user_id}", json=change("v2", research=False))
    collected = await Ledger().collect(context(user_id))
    assert [(r["purpose"], r["granted"], r["policy_version"]) for r in collected.records] == [
        ("analytics", False, "v1"),
        ("research", True, "v1"),
        ("research", False, "v2"),
    ]
    assert {"id", "lawful_basis", "source", "actor_key_id", "recorded_at"} <= set(
        collected.records[0]
    )
    assert collected.identifiers == [user_id] and collected.texts == []
    assert (await Ledger().collect(context(new_user()))).records == []


async def test_erase_deletes_the_ledger_keeps_the_tombstone_and_drops_the_cache(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    other = new_user()
    for user in (user_id, other):
        await admin.put(f"/v1/consent/{user}", json=change(research=True, analytics=True))
    assert await ConsentChecker().can_use(user_id, "research") is True  # cached now
    client = redis.Redis.from_url(redis_url)
    ctx = context(user_id)
    cached_keys = cache_key(ctx.subject_key), generation_key(ctx.subject_key)
    assert client.exists(*cached_keys) == 2
    # the compliance orchestrator normally writes the tombstone first
    async with get_engine().begin() as conn:
        await conn.execute(
            text("INSERT INTO consent.tombstones VALUES (:k, 'written-by-orchestrator', now())"),
            {"k": ctx.subject_key},
        )

    counts = await Ledger().erase(ctx)

    assert counts == {"ledger_entries": 2, "current_rows": 2, "cache_keys": 2}
    assert await count("SELECT count(*) FROM consent.ledger WHERE user_id = :u", u=user_id) == 0
    assert await count("SELECT count(*) FROM consent.current WHERE user_id = :u", u=user_id) == 0
    assert client.exists(*cached_keys) == 0
    assert (
        await count(
            "SELECT count(*) FROM consent.tombstones WHERE subject_key = :k"
            " AND request_id = 'written-by-orchestrator'",
            k=ctx.subject_key,
        )
        == 1
    )
    assert await count("SELECT count(*) FROM consent.ledger WHERE user_id = :u", u=other) == 2
    assert await ConsentChecker().can_use(other, "analytics") is True
    # idempotent
    assert await Ledger().erase(ctx) == {"ledger_entries": 0, "current_rows": 0, "cache_keys": 0}


async def test_a_check_after_the_erasure_leaves_no_trace_in_redis(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    """Services keep calling `can_use` for an erased user: the answer is no, and what it caches
    is named by the keyed hash, so the erasure's verification scan finds nothing."""
    await admin.put(f"/v1/consent/{user_id}", json=change(research=True))
    checker = ConsentChecker()
    assert await checker.can_use(user_id, "research") is True
    ctx = context(user_id)
    await Ledger().erase(ctx)
    client = redis.Redis.from_url(redis_url)
    assert client.exists(cache_key(ctx.subject_key), generation_key(ctx.subject_key)) == 0

    assert await checker.can_use(user_id, "research") is False
    await checker.invalidate(user_id)
    assert await ConsentChecker().can_use(user_id, "research") is False
    assert list(client.scan_iter(match=f"*{user_id}*", count=1000)) == []
    cached = client.hgetall(cache_key(ctx.subject_key))
    assert set(cached.values()) == {b"0"} and user_id.encode() not in b"".join(cached)
    # a later erasure step (a retry) deletes it again
    assert (await Ledger().erase(ctx))["cache_keys"] == 2


async def test_erase_writes_the_tombstone_if_missing(
    admin: httpx.AsyncClient, user_id: str
) -> None:
    await admin.put(f"/v1/consent/{user_id}", json=change(research=True))
    ctx = context(user_id)
    await Ledger().erase(ctx)
    request_ids = await count(
        "SELECT count(*) FROM consent.tombstones WHERE subject_key = :k AND request_id = :r",
        k=ctx.subject_key,
        r=str(ctx.request_id),
    )
    assert request_ids == 1


async def test_the_guard_refuses_everything_but_an_erasures_delete(
    admin: httpx.AsyncClient, user_id: str
) -> None:
    await admin.put(f"/v1/consent/{user_id}", json=change(analytics=True))
    refused = [
        ("", "DELETE FROM consent.ledger WHERE user_id = :u"),
        ("", "UPDATE consent.ledger SET granted = false WHERE user_id = :u"),
        ("", "TRUNCATE consent.ledger"),
        # the erasure setting opens DELETE only
        ("erasure-1", "UPDATE consent.ledger SET granted = false WHERE user_id = :u"),
        ("erasure-1", "TRUNCATE consent.ledger"),
        # a setting left empty is no erasure
        ("", "SELECT set_config('consent.erasure', '', true); DELETE FROM consent.ledger"),
    ]
    for setting, statement in refused:
        with pytest.raises(DBAPIError, match="append-only"):
            async with get_engine().begin() as conn:
                if setting:
                    await conn.execute(text(f"SET LOCAL consent.erasure = '{setting}'"))
                if statement.startswith("SELECT set_config"):
                    first, second = statement.split("; ")
                    await conn.execute(text(first))
                    await conn.execute(text(second))
                else:
                    await conn.execute(text(statement), {"u": user_id})
    # a setting from an earlier transaction on the same connection does not carry over
    async with get_engine().connect() as conn:
        async with conn.begin():
            await conn.execute(text("SET LOCAL consent.erasure = 'erasure-2'"))
        with pytest.raises(DBAPIError, match="append-only"):
            async with conn.begin():
                await conn.execute(
                    text("DELETE FROM consent.ledger WHERE user_id = :u"), {"u": user_id}
                )
    check = await admin.get(f"/v1/consent/{user_id}/check", params={"purpose": "analytics"})
    assert check.json()["allowed"] is True


async def test_consent_for_an_erased_user_is_refused(
    admin: httpx.AsyncClient, user_id: str
) -> None:
    await admin.put(f"/v1/consent/{user_id}", json=change(research=True))
    await Ledger().erase(context(user_id))
    for method, path, body in (
        ("put", f"/v1/consent/{user_id}", change(research=True)),
        ("post", f"/v1/consent/{user_id}/revoke-all", {}),
    ):
        reply = await admin.request(method, path, json=body)
        assert reply.status_code == 409, reply.text
        assert reply.headers["content-type"] == "application/problem+json"
        problem = reply.json()
        assert problem["errors"] == [{"field": "user_id", "reason": "subject erased"}]
        assert user_id not in reply.text
    assert await count("SELECT count(*) FROM consent.ledger WHERE user_id = :u", u=user_id) == 0
    # other users are unaffected
    assert (await admin.put(f"/v1/consent/{new_user()}", json=change(research=True))).is_success


# --- backups ---------------------------------------------------------------------------------
def read_backup(lake: Lake, path: str) -> dict[str, object]:
    document: dict[str, object] = orjson.loads(gzip.decompress(lake.read_bytes(path)))
    return document


async def test_backups_are_rewritten_without_the_user(
    admin: httpx.AsyncClient,
    lake_settings: CommonSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backup, "READ_BYTES", 97)  # entries cut across many reads
    lake = Lake(lake_settings)
    prefix = f"backups/test-{uuid.uuid4().hex[:6]}"
    erased, kept = new_user(), new_user()
    # a policy version that looks like the erased user's entry must not fool the rewrite
    tricky = '"},{"user_id":"' + erased + '"}'
    await admin.put(f"/v1/consent/{kept}", json=change(tricky[:64], research=True))
    engine = one_shot_engine()
    try:
        before = await backup_ledger(engine, lake, prefix=prefix, day=date(2026, 11, 20))
        await admin.put(f"/v1/consent/{erased}", json=change(research=True, analytics=True))
        await admin.put(f"/v1/consent/{erased}", json=change("v2", analytics=False))
        after = await backup_ledger(engine, lake, prefix=prefix, day=date(2026, 11, 21))
    finally:
        await engine.dispose()
    untouched = lake.read_bytes(before.path)
    original = read_backup(lake, after.path)
    lake.write_bytes(f"{prefix}/2026-11-21_consent_backup.erasing.json.gz", b"half-written")

    counts = await Backups(prefix).erase(context(erased, lake))

    assert counts == {"backup_files": 1, "backup_entries": 3}
    assert lake.read_bytes(before.path) == untouched  # never mentioned the user
    rewritten = read_backup(lake, after.path)
    entries = rewritten["entries"]
    assert isinstance(entries, list) and isinstance(original["entries"], list)
    assert rewritten["count"] == len(entries) == len(original["entries"]) - 3
    assert [e for e in entries if e["user_id"] == erased] == []
    assert entries == [e for e in original["entries"] if e["user_id"] != erased]
    assert {k: v for k, v in rewritten.items() if k not in ("entries", "count")} == {
        k: v for k, v in original.items() if k not in ("entries", "count")
    }
    assert [e["policy_version"] for e in entries if e["user_id"] == kept] == [tricky[:64]]
    assert sorted(o.path for o in lake.list(prefix)) == [before.path, after.path]
    assert await Backups(prefix).erase(context(erased, lake)) == {
        "backup_files": 0,
        "backup_entries": 0,
    }
    assert (await Backups(prefix).collect(context(erased, lake))).records == []


def test_the_step_task_is_registered() -> None:
    from services.consent.subjects.tasks import subject_step

    assert subject_step.name == TaskName.CONSENT_SUBJECT_STEP
