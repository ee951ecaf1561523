"""Advisory locks that serialize the writers of a shared lake table.

S3 has no atomic rename for the Delta log, so two commits to one table must never race, and a
zero-retention vacuum must never run while a writer has written files it has not committed
yet. Every writer of a table takes that table's lock around its commits:

- `raw/events`: the raw-events lock (flushers, compaction, erasure, retention). Session-level,
  so a writer that dies frees it with its connection.
- `raw/tenants/<tenant>/<data_type>`: the tenant table's lock (a CSV upload holds it for the
  whole upload; erasure and retention take it too). Transaction-level: it is held until the
  transaction that took it ends.
- `raw/pulled/<job_name>`: the pull job's run lock, keyed by the job's id (one run of a job at
  a time; erasure and retention take it too). Session-level.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

RAW_EVENTS_LOCK = "hashtext('mindlake-ingest-raw-write')"
PULL_JOB_LOCK = "hashtext('mindlake-ingest-pull-job')"
JOB_KEY = "(:j % 2147483647)::int"  # the job id, folded into the lock's second int4 key


async def take_raw_events_lock(conn: AsyncConnection, *, wait: bool = True) -> bool:
    if wait:
        await conn.execute(text(f"SELECT pg_advisory_lock({RAW_EVENTS_LOCK}, 0)"))
        return True
    return bool(await conn.scalar(text(f"SELECT pg_try_advisory_lock({RAW_EVENTS_LOCK}, 0)")))


async def release_raw_events_lock(conn: AsyncConnection) -> None:
    await conn.execute(text(f"SELECT pg_advisory_unlock({RAW_EVENTS_LOCK}, 0)"))


async def take_tenant_table_lock(conn: AsyncConnection, tenant: str, data_type: str) -> None:
    """Wait for, then hold until the transaction ends, the lock of one tenant table."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"csv:{tenant}:{data_type}"},
    )


async def take_pull_job_lock(conn: AsyncConnection, job_id: int, *, wait: bool = False) -> bool:
    """The run lock of one pull job (and so of its table); without `wait`, False if taken."""
    if wait:
        await conn.execute(
            text(f"SELECT pg_advisory_lock({PULL_JOB_LOCK}, {JOB_KEY})"), {"j": job_id}
        )
        return True
    got = await conn.scalar(
        text(f"SELECT pg_try_advisory_lock({PULL_JOB_LOCK}, {JOB_KEY})"), {"j": job_id}
    )
    return bool(got)


async def release_pull_job_lock(conn: AsyncConnection, job_id: int) -> None:
    await conn.execute(
        text(f"SELECT pg_advisory_unlock({PULL_JOB_LOCK}, {JOB_KEY})"), {"j": job_id}
    )
