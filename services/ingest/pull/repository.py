"""Every query of pull jobs, runs and taken files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.ingest.pull.models import PullFile, PullJob, PullRun


# --- jobs (API) ------------------------------------------------------------------------------
async def name_taken(session: AsyncSession, name: str) -> bool:
    return (await session.scalar(select(PullJob.id).where(PullJob.name == name))) is not None


async def add_job(session: AsyncSession, job: PullJob) -> PullJob:
    session.add(job)
    await session.flush()
    await session.refresh(job)
    return job


async def get_job(session: AsyncSession, job_id: int) -> PullJob | None:
    return await session.get(PullJob, job_id)


async def list_jobs(session: AsyncSession, status: str | None) -> Sequence[PullJob]:
    query = select(PullJob).order_by(PullJob.id)
    if status:
        query = query.where(PullJob.status == status)
    return (await session.scalars(query)).all()


async def delete_job(session: AsyncSession, job_id: int) -> bool:
    result = await session.execute(delete(PullJob).where(PullJob.id == job_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def recent_runs(session: AsyncSession, job_id: int, limit: int) -> Sequence[PullRun]:
    query = (
        select(PullRun)
        .where(PullRun.job_id == job_id)
        .order_by(PullRun.started_at.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


# --- scheduling --------------------------------------------------------------------------------
async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> list[tuple[int, Any]]:
    """Active jobs whose next run has come, locked so concurrent beats skip them."""
    result = await conn.execute(
        select(PullJob.id, PullJob.schedule)
        .where(PullJob.status == "active", PullJob.next_run_at <= now)
        .order_by(PullJob.next_run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(int(r[0]), r[1]) for r in result]


async def set_next_run(conn: AsyncConnection, job_id: int, at: datetime) -> None:
    await conn.execute(update(PullJob).where(PullJob.id == job_id).values(next_run_at=at))


# --- runs (worker) -----------------------------------------------------------------------------
async def load_job(conn: AsyncConnection, job_id: int) -> Any:
    result = await conn.execute(select(PullJob.__table__).where(PullJob.id == job_id))
    return result.mappings().first()


async def start_run(conn: AsyncConnection, run_id: str, job_id: int, trigger: str) -> None:
    await conn.execute(
        insert(PullRun).values(id=run_id, job_id=job_id, trigger=trigger, state="running")
    )


async def finish_run(
    conn: AsyncConnection,
    run_id: str,
    *,
    state: str,
    rows: int = 0,
    files: int = 0,
    lake_version: int | None = None,
    error: str | None = None,
) -> None:
    await conn.execute(
        update(PullRun)
        .where(PullRun.id == run_id)
        .values(
            state=state,
            rows=rows,
            files=files,
            lake_version=lake_version,
            error=error,
            finished_at=datetime.now(UTC),
        )
    )


async def abandon_runs(conn: AsyncConnection, job_id: int) -> None:
    """Runs still `running` while we hold the job's lock died with their worker."""
    await conn.execute(
        update(PullRun)
        .where(PullRun.job_id == job_id, PullRun.state == "running")
        .values(state="failed", error="the worker stopped mid-run", finished_at=datetime.now(UTC))
    )


async def taken_files(conn: AsyncConnection, job_id: int) -> set[str]:
    result = await conn.execute(select(PullFile.path).where(PullFile.job_id == job_id))
    return {r[0] for r in result}


async def take_files(conn: AsyncConnection, job_id: int, run_id: str, paths: list[str]) -> None:
    if paths:
        await conn.execute(
            insert(PullFile)
            .values([{"job_id": job_id, "path": p, "run_id": run_id} for p in paths])
            .on_conflict_do_nothing()
        )


async def record_landed(
    conn: AsyncConnection,
    job_id: int,
    *,
    run_id: str,
    cursor: dict[str, Any] | None,
    lake_version: int | None,
) -> None:
    """The job's copy of its position, after (or on recovery of) a lake commit."""
    values: dict[str, Any] = {"last_landed_run": run_id, "updated_at": datetime.now(UTC)}
    if cursor is not None:
        values["cursor"] = cursor
    if lake_version is not None:
        values["lake_version"] = lake_version
    await conn.execute(update(PullJob).where(PullJob.id == job_id).values(**values))


async def record_success(conn: AsyncConnection, job_id: int) -> None:
    await conn.execute(
        update(PullJob)
        .where(PullJob.id == job_id)
        .values(error_count=0, last_error=None, last_run_at=datetime.now(UTC))
    )


async def record_failure(conn: AsyncConnection, job_id: int, reason: str) -> tuple[int, str]:
    """One more consecutive failure; at max_errors the job stops being scheduled."""
    result = await conn.execute(
        text(
            "UPDATE ingest.pull_jobs SET error_count = error_count + 1, last_error = :reason,"
            " last_run_at = now(), updated_at = now(),"
            " status = CASE WHEN error_count + 1 >= max_errors THEN 'failed' ELSE status END"
            " WHERE id = :id RETURNING error_count, status"
        ),
        {"id": job_id, "reason": reason[:500]},
    )
    row = result.one()
    return int(row[0]), str(row[1])
