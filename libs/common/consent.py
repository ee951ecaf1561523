"""The one consent checker every service uses: `can_use(user_id, purpose)` and
`allowed(user_ids, purpose)`. No service reads the consent ledger its own way.

It reads the consent service's current state directly, read-only: the table
`consent.current` (columns `user_id`, `purpose`, `granted`, `as_of`, `policy_version`; one
row per user and purpose, kept by a trigger on the ledger) is the contract — libs/common
never imports services. No row means not granted.

`can_use` is cached in Redis, one hash per user (`consent:v2:<subject_key>`, purpose -> 0/1),
with a short TTL as a backstop. The consent service calls `invalidate(user_id)` after every
committed change: it bumps the user's generation (`consent:v2:gen:<subject_key>`) and deletes
the hash, so the next check anywhere reads Postgres. A check that read Postgres *before* the
commit and writes its answer *after* the invalidation would re-cache a stale answer; it
writes only if the generation it saw before reading is still current (one atomic Lua
script), so it cannot.

The keys are named by the user's keyed hash (libs/common/subjects.py), never their id, and
hold only purposes and 0/1: a check after an erasure leaves no trace of the user in Redis for
the erasure's verification scan to find. (v1 keys held the id; they expire by their TTL.)

`allowed` (the bulk form, for exports) always asks Postgres in one query: one round trip
for any number of ids is faster than a cache look-up per id, and always current. The other
bulk reads, `withdrawn` (users who withdrew a purpose) and `tombstoned` (erased subjects, the
consent service's `consent.tombstones`), are single queries on a caller's connection too.

This module is the consent service's contract with the others, and the only place outside
services/consent that names its tables (tests/test_schema_ownership.py checks it): the
reads above, `consent_counts` for the compliance report, `TOMBSTONE_GUARD` for the data-key
store, and one write, `record_tombstone`. That write is the erasure's: the tombstone must
commit in the same transaction that destroys the user's data key (compliance's shred step),
or a flush could create a new key for the user in between; a task of the consent service
could not be atomic with it. The consent service writes tombstones itself in its own erase
step too; `ON CONFLICT DO NOTHING` makes the two agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.contracts import ConsentPurpose
from libs.common.db import get_engine
from libs.common.settings import get_settings
from libs.common.subjects import subject_key

CURRENT_TABLE = "consent.current"  # the contract with services/consent
GEN_TTL_S = 86_400  # generations outlive any cached hash

_USER_STATE = text("SELECT purpose, granted FROM consent.current WHERE user_id = :user_id")
# A join with the ids: measured faster than `user_id = ANY($1)` at 100k ids
# (bench/consent_bulk.py). Plain asyncpg: SQLAlchemy's result handling costs ~30% here.
ALLOWED_SQL = (
    "SELECT c.user_id FROM unnest($1::text[]) AS i(user_id) "
    "JOIN consent.current c ON c.user_id = i.user_id "
    "WHERE c.purpose = $2 AND c.granted"
)
# Write the hash only if the generation is still the one seen before reading Postgres.
_SET_IF_CURRENT = """
local gen = redis.call('GET', KEYS[2]) or ''
if gen ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


KEY_PREFIX = "consent:v2:"


def cache_key(subject: str) -> str:
    """The user's cached hash, by their `subject_key` (never pass a user id)."""
    return f"{KEY_PREFIX}{subject}"


def generation_key(subject: str) -> str:
    """The user's generation counter, by their `subject_key` (never pass a user id)."""
    return f"{KEY_PREFIX}gen:{subject}"


class ConsentChecker:
    def __init__(
        self,
        *,
        redis_url: str | None = None,
        ttl_s: float | None = None,
        engine: AsyncEngine | None = None,
    ) -> None:
        settings = get_settings()
        self.settings = settings
        self.redis_url = redis_url or settings.redis_url
        self.ttl_s = settings.consent_cache_ttl_s if ttl_s is None else ttl_s
        self._engine = engine
        self._redis: aioredis.Redis[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def redis(self) -> aioredis.Redis[bytes]:
        # A client belongs to one event loop (tests and Celery tasks each run their own).
        loop = asyncio.get_running_loop()
        if self._redis is None or self._loop is not loop:
            self._redis = aioredis.Redis.from_url(self.redis_url)
            self._loop = loop
        return self._redis

    @property
    def engine(self) -> AsyncEngine:
        return self._engine or get_engine()

    def subject(self, user_id: str) -> str:
        """The user's keyed hash, which names their cache keys."""
        return subject_key(user_id, self.settings)

    async def can_use(self, user_id: str, purpose: ConsentPurpose | str) -> bool:
        """Whether `user_id` currently consents to `purpose` (cached; see the module doc)."""
        purpose = ConsentPurpose(purpose)
        subject = self.subject(user_id)  # once per call: an HMAC, a microsecond or two
        hash_key, gen_key = cache_key(subject), generation_key(subject)
        cached = await self.redis.hget(hash_key, purpose.value)
        if cached is not None:
            return bool(cached == b"1")
        generation = await self.redis.get(gen_key)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_USER_STATE, {"user_id": user_id})).all()
        state = {p.value: "0" for p in ConsentPurpose}
        state.update({row.purpose: "1" if row.granted else "0" for row in rows})
        fields = [item for pair in state.items() for item in pair]
        await self.redis.eval(  # type: ignore[no-untyped-call]
            _SET_IF_CURRENT,
            2,
            hash_key,
            gen_key,
            (generation or b"").decode(),
            int(self.ttl_s * 1000),
            *fields,
        )
        return state[purpose.value] == "1"

    async def allowed(self, user_ids: Iterable[str], purpose: ConsentPurpose | str) -> set[str]:
        """The subset of `user_ids` that currently consent to `purpose` (one query)."""
        purpose = ConsentPurpose(purpose)
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return set()
        async with self.engine.connect() as conn:
            return set(await query_allowed(conn, ids, purpose))

    async def invalidate(self, *user_ids: str) -> None:
        """After a committed change: every process's next check reads Postgres."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for user_id in user_ids:
                subject = self.subject(user_id)
                pipe.incr(generation_key(subject))
                pipe.expire(generation_key(subject), GEN_TTL_S)
                pipe.delete(cache_key(subject))
            await pipe.execute()


async def query_allowed(
    conn: AsyncConnection, user_ids: list[str], purpose: ConsentPurpose
) -> list[str]:
    """The bulk query on a connection (the consent service's own endpoint uses it too)."""
    raw = await conn.get_raw_connection()
    pg: asyncpg.Connection = raw.driver_connection
    rows = await pg.fetch(ALLOWED_SQL, user_ids, ConsentPurpose(purpose).value)
    return [row[0] for row in rows]


_WITHDRAWN = text("SELECT user_id FROM consent.current WHERE purpose = :purpose AND NOT granted")
_GRANTED = text("SELECT user_id FROM consent.current WHERE purpose = :purpose AND granted")
# consent.tombstones (`subject_key`, one row per erased user) is the same kind of contract:
# an erased user's data is refused everywhere.
_TOMBSTONED = text("SELECT subject_key FROM consent.tombstones WHERE subject_key = ANY(:k)")


# For a statement that must not act for an erased subject: `... WHERE NOT EXISTS
# (TOMBSTONE_GUARD)` with the subject's key as the column `{column}`.
TOMBSTONE_GUARD = "SELECT 1 FROM consent.tombstones t WHERE t.subject_key = {column}"
_RECORD_TOMBSTONE = text(
    "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
    " VALUES (:s, :r, :at) ON CONFLICT (subject_key) DO NOTHING"
)
_CONSENT_USERS = text("SELECT count(DISTINCT user_id) FROM consent.current")
_CONSENT_BY_PURPOSE = text(
    "SELECT purpose, count(*) FILTER (WHERE granted) AS granted,"
    " count(*) FILTER (WHERE NOT granted) AS withdrawn"
    " FROM consent.current GROUP BY purpose"
)


async def record_tombstone(
    conn: AsyncConnection, *, subject_key: str, request_id: str, at: datetime
) -> None:
    """Mark the subject erased, on the caller's transaction (see the module docstring)."""
    await conn.execute(_RECORD_TOMBSTONE, {"s": subject_key, "r": request_id, "at": at})


async def consent_counts(conn: AsyncConnection) -> tuple[int, dict[str, tuple[int, int]]]:
    """Users with any consent record; per purpose, (granted, withdrawn) users now. Aggregates
    only: no user id leaves the query."""
    users = int(await conn.scalar(_CONSENT_USERS) or 0)
    rows = await conn.execute(_CONSENT_BY_PURPOSE)
    return users, {row.purpose: (int(row.granted), int(row.withdrawn)) for row in rows}


async def withdrawn(conn: AsyncConnection, purpose: ConsentPurpose) -> list[str]:
    """Every user whose current state for `purpose` is withdrawn (a row, not granted)."""
    rows = await conn.scalars(_WITHDRAWN, {"purpose": ConsentPurpose(purpose).value})
    return list(rows.all())


async def granted(conn: AsyncConnection, purpose: ConsentPurpose) -> list[str]:
    """Every user who grants `purpose` now (for a search across users, not a per-id check)."""
    rows = await conn.scalars(_GRANTED, {"purpose": ConsentPurpose(purpose).value})
    return list(rows.all())


async def tombstoned(conn: AsyncConnection, subject_keys: Sequence[str]) -> list[str]:
    """Those of `subject_keys` that were erased (consent.tombstones), one query."""
    if not subject_keys:
        return []
    rows = await conn.scalars(_TOMBSTONED, {"k": list(subject_keys)})
    return list(rows.all())


checker = ConsentChecker()


async def can_use(user_id: str, purpose: ConsentPurpose | str) -> bool:
    return await checker.can_use(user_id, purpose)


async def allowed(user_ids: Iterable[str], purpose: ConsentPurpose | str) -> set[str]:
    return await checker.allowed(user_ids, purpose)
