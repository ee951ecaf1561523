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

`raw_events_locked` and `pull_job_locked` hold a session-level lock around a block, committing
after taking it and after releasing it, so the lock's session is never left in a transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.lake_tables import pull_job_id

RAW_EVENTS_LOCK = "hashtext('mindlake-ingest-raw-write')"
PULL_JOB_LOCK = "hashtext('mindlake-ingest-pull-job')"
JOB_KEY = "(:j % 2147483647)::int"  # the job id, folded into the lock's second int4 key


class JobBusy(Exception):
    """A run of the pull job holds its lock (and so its table): retried later."""


async def take_raw_events_lock(conn: AsyncConnection) -> None:
    await conn.execute(text(f"SELECT pg_advisory_lock({RAW_EVENTS_LOCK}, 0)"))


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


@asynccontextmanager
async def raw_events_locked(conn: AsyncConnection) -> AsyncIterator[None]:
    """Wait for, then hold around the block, the raw-events lock (on `conn`'s session)."""
    await take_raw_events_lock(conn)
    await conn.commit()
    try:
        yield
    finally:
        await release_raw_events_lock(conn)
        await conn.commit()


@asynccontextmanager
async def pull_job_locked(
    conn: AsyncConnection, job: str | int, *, wait: bool
) -> AsyncIterator[None]:
    """Hold, around the block, the run lock of a pull job (on `conn`'s session).

    `job` is the job's id, or its name (the table `raw/pulled/<name>`): looked up and committed
    first, and a job deleted since has no writer left, so the block runs without a lock. With
    `wait`, waits for a running job; without, raises JobBusy (nothing committed) if it runs."""
    if isinstance(job, str):
        job_id = await pull_job_id(conn, job)
        await conn.commit()
        if job_id is None:
            yield
            return
    else:
        job_id = job
    if not await take_pull_job_lock(conn, job_id, wait=wait):
        raise JobBusy(f"pull job {job_id} is running")
    await conn.commit()
    try:
        yield
    finally:
        await release_pull_job_lock(conn, job_id)
        await conn.commit()
