"""Session advisory locks that serialize writers of a shared lake table.

S3 has no atomic rename for the Delta log, so two commits to one table must never race:
every writer of `raw/events` (flushers, erasure, retention) takes this lock around its
commit. Session-level, so a writer that dies frees it with its connection.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

RAW_EVENTS_LOCK = "hashtext('mindlake-ingest-raw-write')"


async def take_raw_events_lock(conn: AsyncConnection, *, wait: bool = True) -> bool:
    if wait:
        await conn.execute(text(f"SELECT pg_advisory_lock({RAW_EVENTS_LOCK}, 0)"))
        return True
    return bool(await conn.scalar(text(f"SELECT pg_try_advisory_lock({RAW_EVENTS_LOCK}, 0)")))


async def release_raw_events_lock(conn: AsyncConnection) -> None:
    await conn.execute(text(f"SELECT pg_advisory_unlock({RAW_EVENTS_LOCK}, 0)"))
