"""Every query of the lineage: runs, their assets, and the walk from an asset to the runs
that made it or read it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.catalog.lineage.models import RunDatasetRow, RunRow

RUNS = cast(Table, RunRow.__table__)
DATASETS = cast(Table, RunDatasetRow.__table__)
ENDED = ("COMPLETE", "FAIL")


async def upsert_run(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """A START sets the start; COMPLETE or FAIL the end and the state. A late START (events
    can arrive out of order) never turns an ended run back into a running one."""
    statement = insert(RUNS).values(**values)
    new = statement.excluded
    ended = RUNS.c.state.in_(ENDED)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[RUNS.c.run_id],
            set_={
                "state": case((ended, RUNS.c.state), else_=new.state),
                "started_at": func.coalesce(RUNS.c.started_at, new.started_at),
                "ended_at": func.coalesce(new.ended_at, RUNS.c.ended_at),
                "facets": RUNS.c.facets.op("||")(new.facets),
            },
        )
    )


async def add_datasets(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        statement = insert(DATASETS).values(list(rows))
        await conn.execute(
            statement.on_conflict_do_update(
                constraint="run_dataset", set_={"version": statement.excluded.version}
            )
        )


async def run(conn: AsyncConnection, run_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(RUNS).where(RUNS.c.run_id == run_id))).mappings().first()
    return dict(row) if row else None


async def datasets_of(conn: AsyncConnection, run_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(DATASETS).where(DATASETS.c.run_id.in_(list(run_ids))).order_by(DATASETS.c.id)
    )
    return [dict(r) for r in rows.mappings()]


async def runs_touching(
    conn: AsyncConnection, asset_id: uuid.UUID, direction: str, version: int | None, limit: int
) -> list[dict[str, Any]]:
    """The newest runs that wrote (`output`) or read (`input`) the asset, at `version` if
    given; each with the version it saw."""
    query = (
        select(RUNS, DATASETS.c.version.label("asset_version"))
        .join(DATASETS, DATASETS.c.run_id == RUNS.c.run_id)
        .where(DATASETS.c.asset_id == asset_id, DATASETS.c.direction == direction)
        .order_by(func.coalesce(RUNS.c.ended_at, RUNS.c.started_at).desc().nulls_last())
        .limit(limit)
    )
    if version is not None:
        query = query.where(DATASETS.c.version == version)
    return [dict(r) for r in (await conn.execute(query)).mappings()]
