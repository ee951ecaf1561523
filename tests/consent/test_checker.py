"""libs.common.consent: the cached checker every service uses, against real Postgres and Redis."""

from __future__ import annotations

import random
import time

import httpx
import redis
from sqlalchemy import text

from libs.common.consent import ConsentChecker, cache_key, generation_key
from libs.common.contracts import ConsentPurpose
from libs.common.db import get_engine


def change(**purposes: bool) -> dict[str, object]:
    return {"purposes": purposes, "policy_version": "2026-11"}


async def test_a_withdrawal_flips_the_endpoint_and_every_cached_checker_within_a_second(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    # Two checkers: two processes of other services sharing the Redis cache.
    one, two = ConsentChecker(ttl_s=300), ConsentChecker(ttl_s=300)
    await admin.put(f"/v1/consent/{user_id}", json=change(ai_training=True))
    assert await one.can_use(user_id, ConsentPurpose.AI_TRAINING) is True
    assert await two.can_use(user_id, "ai_training") is True  # a cache hit now
    assert redis.Redis.from_url(redis_url).hget(cache_key(user_id), "ai_training") == b"1"

    started = time.monotonic()
    withdrawn = await admin.put(f"/v1/consent/{user_id}", json=change(ai_training=False))
    assert withdrawn.status_code == 200
    while True:
        check = await admin.get(f"/v1/consent/{user_id}/check", params={"purpose": "ai_training"})
        flipped = [
            check.json()["allowed"] is False,
            await one.can_use(user_id, "ai_training") is False,
            await two.can_use(user_id, "ai_training") is False,
        ]
        if all(flipped):
            break
        assert time.monotonic() - started < 1.0, flipped
    assert time.monotonic() - started < 1.0  # the TTL (300 s) played no part


async def test_no_record_is_not_granted_and_is_cached(user_id: str, redis_url: str) -> None:
    checker = ConsentChecker()
    assert await checker.can_use(user_id, "research") is False
    cached = redis.Redis.from_url(redis_url).hgetall(cache_key(user_id))
    assert cached == {p.value.encode(): b"0" for p in ConsentPurpose}


async def test_a_stale_read_cannot_be_cached_after_an_invalidation(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    """A check that read Postgres before a commit and caches after its invalidation."""
    checker = ConsentChecker()
    r = redis.Redis.from_url(redis_url)
    await admin.put(f"/v1/consent/{user_id}", json=change(research=True))
    seen_generation = r.get(generation_key(user_id))  # the slow check starts: generation...
    await admin.put(f"/v1/consent/{user_id}", json=change(research=False))  # ...a change lands
    stale = ["research", "1"] + [
        x for p in ConsentPurpose if p.value != "research" for x in (p.value, "0")
    ]
    from libs.common.consent import _SET_IF_CURRENT

    written = r.eval(
        _SET_IF_CURRENT,
        2,
        cache_key(user_id),
        generation_key(user_id),
        (seen_generation or b"").decode(),
        60_000,
        *stale,
    )
    assert written == 0
    assert await checker.can_use(user_id, "research") is False


async def test_bulk_allowed_over_100k_ids_is_exact(admin: httpx.AsyncClient) -> None:
    """100,000 users with mixed consent, seeded straight into the ledger (the trigger keeps
    the current state), plus ids never seen; checked through the API and the checker."""
    rng = random.Random(4)
    prefix = f"bulk-{rng.getrandbits(32):08x}-"
    ids = [f"{prefix}{i}" for i in range(100_000)]
    # Each user: research granted, withdrawn, never recorded, or granted then withdrawn.
    plan = [rng.choice(["grant", "withdraw", "none", "regrant", "flip"]) for _ in ids]
    rows: list[tuple[str, bool]] = []
    for uid, kind in zip(ids, plan, strict=True):
        if kind == "grant":
            rows.append((uid, True))
        elif kind == "withdraw":
            rows.append((uid, False))
        elif kind == "regrant":
            rows += [(uid, True), (uid, False), (uid, True)]
        elif kind == "flip":
            rows += [(uid, True), (uid, False)]
    expected = {uid for uid, kind in zip(ids, plan, strict=True) if kind in ("grant", "regrant")}
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis, "
                "policy_version, source, actor_key_id, recorded_at) "
                "SELECT u, 'research', g, 'explicit_consent', '2026-11', 'import', 'test', now() "
                "FROM unnest(CAST(:u AS text[]), CAST(:g AS boolean[])) "
                "WITH ORDINALITY AS t(u, g, n) "
                "ORDER BY n"
            ),
            {"u": [u for u, _ in rows], "g": [g for _, g in rows]},
        )
    checked = ids + [f"{prefix}unknown-{i}" for i in range(100)]
    assert await ConsentChecker().allowed(checked, ConsentPurpose.RESEARCH) == expected
    assert await ConsentChecker().allowed(checked, ConsentPurpose.ANALYTICS) == set()

    reply = await admin.post("/v1/consent/check", json={"purpose": "research", "user_ids": checked})
    assert reply.status_code == 200
    body = reply.json()
    assert body["checked"] == len(checked) and set(body["allowed"]) == expected
