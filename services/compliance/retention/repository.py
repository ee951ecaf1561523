"""Every query of retention: the policies and the record of runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.compliance.retention.models import RetentionPolicy, RetentionRun

POLICIES = RetentionPolicy.__table__
RUNS = RetentionRun.__table__
# One enforcement at a time: a manual run and the beat's do not both purge.
RUN_LOCK = "hashtext('mindlake-compliance-retention')"


async def policies(conn: AsyncConnection) -> list[RetentionPolicy]:
    result = await conn.execute(
        select(POLICIES).order_by(RetentionPolicy.zone, RetentionPolicy.data_type)
    )
    return [RetentionPolicy(**row._mapping) for row in result]


async def set_days(
    conn: AsyncConnection, zone: str, data_type: str, *, days: int, updated_by: str
) -> RetentionPolicy | None:
    result = await conn.execute(
        update(RetentionPolicy)
        .where(RetentionPolicy.zone == zone, RetentionPolicy.data_type == data_type)
        .values(retention_days=days, updated_by=updated_by[:64], updated_at=datetime.now(UTC))
        .returning(*POLICIES.columns)
    )
    row = result.first()
    return None if row is None else RetentionPolicy(**row._mapping)


async def create_run(
    conn: AsyncConnection, *, trigger: str, requested_by: str, status: str
) -> uuid.UUID:
    run_id = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        insert(RetentionRun).values(
            id=run_id,
            trigger=trigger,
            requested_by=requested_by[:64],
            status=status,
            created_at=now,
            started_at=now if status == "running" else None,
            rows_removed=0,
            objects_removed=0,
            bytes_removed=0,
            errors=0,
            results=[],
        )
    )
    return run_id


async def start_queued(conn: AsyncConnection, run_id: uuid.UUID) -> str | None:
    """Claim a queued run: who asked for it; None when it already ran (a redelivery)."""
    result = await conn.execute(
        update(RetentionRun)
        .where(RetentionRun.id == run_id, RetentionRun.status == "queued")
        .values(status="running", started_at=datetime.now(UTC))
        .returning(RetentionRun.requested_by)
    )
    return result.scalar_one_or_none()


async def finish_run(
    conn: AsyncConnection,
    run_id: uuid.UUID,
    *,
    status: str,
    totals: dict[str, int],
    results: list[dict[str, Any]],
) -> None:
    await conn.execute(
        update(RetentionRun)
        .where(RetentionRun.id == run_id)
        .values(status=status, finished_at=datetime.now(UTC), results=results, **totals)
    )


async def run(conn: AsyncConnection, run_id: uuid.UUID) -> RetentionRun | None:
    row = (await conn.execute(select(RUNS).where(RetentionRun.id == run_id))).first()
    return None if row is None else RetentionRun(**row._mapping)


async def runs(
    conn: AsyncConnection,
    *,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Sequence[RetentionRun]:
    query = select(RUNS).order_by(RetentionRun.created_at.desc()).limit(limit)
    if since is not None:
        query = query.where(RetentionRun.created_at >= since)
    if until is not None:
        query = query.where(RetentionRun.created_at < until)
    return [RetentionRun(**row._mapping) for row in await conn.execute(query)]


async def try_run_lock(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(text(f"SELECT pg_try_advisory_lock({RUN_LOCK}, 0)")))


async def release_run_lock(conn: AsyncConnection) -> None:
    await conn.execute(text(f"SELECT pg_advisory_unlock({RUN_LOCK}, 0)"))
