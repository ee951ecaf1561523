"""Registering assets: one on a writer's hint (`catalog.register`), or every asset in the
lake (the reconcile, which also marks the ones gone from the lake `missing`).

Both inspect the lake themselves, so a late or repeated hint only refreshes the same row.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.lake import Lake
from services.catalog.assets import repository
from services.catalog.assets.inspect_asset import Facts, inspect
from services.catalog.assets.known import Kind, kind_of
from services.catalog.assets.metrics import ASSETS_REGISTERED, RECONCILE_SECONDS
from services.catalog.config import CatalogSettings

log = structlog.get_logger(__name__)
NAMESPACE = uuid.UUID("5b0c1c57-8f2e-4c1e-9a53-6d1e2a7c0b11")  # asset ids: uuid5 of location


def asset_id(location: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, location)


def _row(
    kind: Kind, location: str, facts: Facts, writer: str | None, at: datetime
) -> dict[str, Any]:
    return {
        "id": asset_id(location),
        "location": location,
        "name": kind.name_of(location),
        "description": kind.description,
        "asset_type": kind.asset_type.value,
        "storage_format": facts.storage_format.value,
        "owner": kind.owner,
        "purpose": kind.purpose.value if kind.purpose else None,
        "retention": kind.retention,
        "tags": list(kind.tags),
        "columns": facts.columns,
        "partition_columns": facts.partition_columns,
        "version": facts.version,
        "rows": facts.rows,
        "bytes": facts.bytes,
        "files": facts.files,
        "status": repository.PRESENT,
        "last_writer": writer,
        "created_at": at,
        "updated_at": facts.changed_at or at,
        "inspected_at": at,
    }


async def register(
    *, engine: AsyncEngine, lake: Lake, settings: CatalogSettings, path: str, writer: str | None
) -> str | None:
    """Inspect and record the asset `path` belongs to; its location, or None when no kind
    claims the path or nothing of it is in the lake."""
    claimed = kind_of(path)
    if claimed is None:
        return None
    kind, location = claimed
    facts = await asyncio.to_thread(
        inspect, lake, kind, location, sample_rows=settings.catalog_sample_rows
    )
    at = datetime.now(UTC)
    async with engine.begin() as conn:
        if facts is None:
            await repository.mark_missing(conn, [location], at)
            return None
        await repository.upsert(conn, _row(kind, location, facts, writer, at))
    ASSETS_REGISTERED.labels(kind.owner).inc()
    return location


def _lake_locations(lake: Lake) -> dict[str, Kind]:
    found: dict[str, Kind] = {}
    for obj in lake.list():
        claimed = kind_of(obj.path)
        if claimed is not None:
            found.setdefault(claimed[1], claimed[0])
    return found


async def reconcile(
    *,
    engine: AsyncEngine,
    lake: Lake,
    settings: CatalogSettings,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Every asset in the lake inspected and recorded; those gone marked missing."""
    started = time.monotonic()
    found = await asyncio.to_thread(_lake_locations, lake)
    registered = failed = 0
    for location in sorted(found):
        try:
            kept = await register(
                engine=engine, lake=lake, settings=settings, path=location, writer=None
            )
            registered += kept is not None
        except Exception as exc:  # one unreadable asset must not hide the others
            failed += 1
            log.warning("catalog_inspect_failed", location=location, error_type=type(exc).__name__)
        if progress:
            progress(location)
    async with engine.begin() as conn:
        gone = await repository.locations(conn) - set(found)
        missing = await repository.mark_missing(conn, sorted(gone), datetime.now(UTC))
    RECONCILE_SECONDS.observe(time.monotonic() - started)
    return {"assets": registered, "failed": failed, "missing": missing}
