"""libs.common.consent: the cached checker every service uses, against real Postgres and Redis."""

from __future__ import annotations

import random

import httpx
import redis
from sqlalchemy import text

from libs.common.consent import ConsentChecker, cache_key, generation_key
from libs.common.contracts import ConsentPurpose
from libs.common.db import get_engine
from libs.common.settings import get_settings
from libs.common.subjects import subject_key


def change(**purposes: bool) -> dict[str, object]:
    return {"purposes": purposes, "policy_version": "2026-11"}


def keys(user_id: str) -> tuple[str, str]:
    """The user's cache hash and generation key: named by the keyed hash erasure uses."""
    subject = subject_key(user_id, get_settings())
    return cache_key(subject), generation_key(subject)


def redis_holding(r: redis.Redis, needle: str) -> list[str]:  # type: ignore[type-arg]
    """Every Redis key whose name, or value if a string or hash (what the cache writes),
    holds `needle`."""
    data = needle.encode()
    found = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        if kind == b"string":
            values = [r.get(key) or b""]
        elif kind == b"hash":
            values = [x for pair in r.hgetall(key).items() for x in pair]
        else:
            values = []
        if data in key or any(data in v for v in values):
            found.append(key.decode(errors="replace"))
    return found


async def test_a_withdrawal_flips_the_endpoint_and_every_cached_checker_before_it_replies(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    """The API invalidates the shared cache before it answers the change: the very next check
    of every checker sees the withdrawal, not an answer cached for the TTL (300 s)."""
    # Two checkers: two processes of other services sharing the Redis cache.
    one, two = ConsentChecker(ttl_s=300), ConsentChecker(ttl_s=300)
    await admin.put(f"/v1/consent/{user_id}", json=change(ai_training=True))
    assert await one.can_use(user_id, ConsentPurpose.AI_TRAINING) is True
    assert await two.can_use(user_id, "ai_training") is True  # a cache hit now
    assert redis.Redis.from_url(redis_url).hget(keys(user_id)[0], "ai_training") == b"1"

    withdrawn = await admin.put(f"/v1/consent/{user_id}", json=change(ai_training=False))
    assert withdrawn.status_code == 200
    # the first check after the reply, each of them: no retry loop, no waiting
    check = await admin.get(f"/v1/consent/{user_id}/check", params={"purpose": "ai_training"})
    assert check.json()["allowed"] is False
    assert await one.can_use(user_id, "ai_training") is False
    assert await two.can_use(user_id, "ai_training") is False
    assert redis.Redis.from_url(redis_url).hget(keys(user_id)[0], "ai_training") == b"0"


async def test_no_record_is_not_granted_and_is_cached(user_id: str, redis_url: str) -> None:
    checker = ConsentChecker()
    assert await checker.can_use(user_id, "research") is False
    cached = redis.Redis.from_url(redis_url).hgetall(keys(user_id)[0])
    assert cached == {p.value.encode(): b"0" for p in ConsentPurpose}


async def test_no_redis_key_or_value_holds_the_user_id(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    """The cache is named by the keyed hash: its checks and invalidations leave no trace of the
    id for an erasure's verification scan (which reads every key and value)."""
    r = redis.Redis.from_url(redis_url)
    checker = ConsentChecker(ttl_s=300)
    assert await checker.can_use(user_id, "research") is False  # no record: cached as 0
    await admin.put(f"/v1/consent/{user_id}", json=change(research=True))  # invalidates
    for purpose in ConsentPurpose:
        assert await checker.can_use(user_id, purpose) is (purpose == ConsentPurpose.RESEARCH)
    await checker.invalidate(user_id)
    assert await checker.can_use(user_id, "research") is True

    hash_key, gen_key = keys(user_id)
    assert hash_key.startswith("consent:v2:") and gen_key.startswith("consent:v2:gen:")
    assert r.exists(hash_key, gen_key) == 2
    assert int(r.get(gen_key) or 0) == 2  # the API's invalidation and ours
    assert redis_holding(r, user_id) == []


async def test_an_invalidation_is_seen_by_the_next_check(user_id: str) -> None:
    """A change written straight to the ledger, then `invalidate`: the cached answer goes."""
    checker = ConsentChecker(ttl_s=300)
    assert await checker.can_use(user_id, "analytics") is False  # cached
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis, "
                "policy_version, source, actor_key_id, recorded_at) VALUES "
                "(:u, 'analytics', true, 'explicit_consent', '2026-11', 'import', 'test', now())"
            ),
            {"u": user_id},
        )
    assert await checker.can_use(user_id, "analytics") is False  # the cache, until...
    await ConsentChecker().invalidate(user_id)  # ...any process invalidates
    assert await checker.can_use(user_id, "analytics") is True


async def test_a_stale_read_cannot_be_cached_after_an_invalidation(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    """A check that read Postgres before a commit and caches after its invalidation."""
    checker = ConsentChecker()
    r = redis.Redis.from_url(redis_url)
    await admin.put(f"/v1/consent/{user_id}", json=change(research=True))
    hash_key, gen_key = keys(user_id)
    seen_generation = r.get(gen_key)  # the slow check starts: generation...
    await admin.put(f"/v1/consent/{user_id}", json=change(research=False))  # ...a change lands
    stale = ["research", "1"] + [
        x for p in ConsentPurpose if p.value != "research" for x in (p.value, "0")
    ]
    from libs.common.consent import _SET_IF_CURRENT

    written = r.eval(
        _SET_IF_CURRENT,
        2,
        hash_key,
        gen_key,
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
