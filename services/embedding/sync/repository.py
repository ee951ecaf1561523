"""Watermarks and run rows in `embedding.*`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.embedding.sync.models import RunRow, WatermarkRow


async def watermark(engine: AsyncEngine, source: str, collection: str) -> int | None:
    async with engine.connect() as conn:
        found = await conn.scalar(
            select(WatermarkRow.table_version).where(
                WatermarkRow.source == source, WatermarkRow.collection == collection
            )
        )
    return None if found is None else int(found)


async def advance(engine: AsyncEngine, source: str, collection: str, version: int) -> None:
    """Never moves back: a slower run that read an older version leaves a newer mark."""
    stmt = insert(WatermarkRow).values(
        source=source, collection=collection, table_version=version, updated_at=datetime.now(UTC)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "collection"],
        set_={"table_version": stmt.excluded.table_version, "updated_at": stmt.excluded.updated_at},
        where=WatermarkRow.table_version < stmt.excluded.table_version,
    )
    async with engine.begin() as conn:
        await conn.execute(stmt)


async def start_run(engine: AsyncEngine, kind: str, collection: str) -> uuid.UUID:
    run_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(RunRow).values(
                id=run_id, kind=kind, collection=collection, status="running",
                started_at=datetime.now(UTC), counts={},
            )
        )  # fmt: skip
    return run_id


async def finish_run(
    engine: AsyncEngine,
    run_id: uuid.UUID,
    *,
    counts: dict[str, Any],
    table_version: int | None = None,
    error: str | None = None,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(
                status="failed" if error else "done", finished_at=datetime.now(UTC),
                counts=counts, table_version=table_version, error=error,
            )
        )  # fmt: skip


@asynccontextmanager
async def run_lock(engine: AsyncEngine, collection: str) -> AsyncIterator[bool]:
    """A session advisory lock per collection: whether this run may go (one at a time)."""
    key = f"embedding.run:{collection}"
    async with engine.connect() as conn:
        held = bool(
            await conn.scalar(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key})
        )
        try:
            yield held
        finally:
            if held:
                await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
