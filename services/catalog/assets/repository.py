"""Every query of the asset catalog."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.catalog.assets.models import AssetRow

T = cast(Table, AssetRow.__table__)
PRESENT, MISSING = "present", "missing"


async def upsert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Insert the asset or refresh it; `created_at` stays, `updated_at` moves only when the
    data changed (its version, size or files)."""
    statement = insert(T).values(**values)
    excluded = statement.excluded
    changed = (
        T.c.version.is_distinct_from(excluded.version)
        | (T.c.bytes != excluded.bytes)
        | (T.c.files != excluded.files)
        | (T.c.status != excluded.status)
    )
    refreshed: dict[str, Any] = {
        c: excluded[c] for c in values if c not in ("id", "location", "created_at")
    }
    refreshed["updated_at"] = case((changed, excluded.updated_at), else_=T.c.updated_at)
    refreshed["last_writer"] = func.coalesce(excluded.last_writer, T.c.last_writer)  # reconcile
    await conn.execute(statement.on_conflict_do_update(index_elements=[T.c.id], set_=refreshed))


async def get(conn: AsyncConnection, asset_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(T).where(T.c.id == asset_id))).mappings().first()
    return dict(row) if row else None


async def listing(
    conn: AsyncConnection,
    *,
    types: Sequence[str] = (),
    tags: Sequence[str] = (),
    owner: str | None = None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Assets in location order; `tags`: every one of them; missing assets included."""
    query = select(T).order_by(T.c.location).limit(limit).offset(offset)
    if types:
        query = query.where(T.c.asset_type.in_(list(types)))
    if tags:
        query = query.where(T.c.tags.contains(list(tags)))
    if owner:
        query = query.where(T.c.owner == owner)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def by_ids(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    rows = await conn.execute(select(T).where(T.c.id.in_(list(ids))))
    return [dict(r) for r in rows.mappings()]


async def locations(conn: AsyncConnection) -> set[str]:
    return set((await conn.scalars(select(T.c.location).where(T.c.status == PRESENT))).all())


async def mark_missing(conn: AsyncConnection, gone: Sequence[str], at: Any) -> int:
    result = await conn.execute(
        update(T)
        .where(T.c.location.in_(list(gone)), T.c.status == PRESENT)
        .values(status=MISSING, updated_at=at, inspected_at=at)
    )
    return int(getattr(result, "rowcount", 0))
