"""Restoring a Delta asset to an earlier version, without ever bringing an erased user back.

Two outcomes, and the reply says which:
- **refused** (409): the version needs data files that are gone. Erasure and retention vacuum
  with zero retention, so a version older than an erasure of a user in it cannot be restored.
- **restored, erasures re-applied**: the restore commits, then every erased user (a consent
  tombstone) found in the table by `subject_key` is deleted again, and the files that held
  them are vacuumed at once, as the erasure did.

A restore drops from the current version what was written after `version`, so it must be
confirmed; and `raw/events` is never restored: it holds acknowledged events, which MindLake
promises never to lose. The restore holds the lock every writer of that table takes
(libs/common/lake_locks.py), so no flush, upload, erasure or retention commits meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pyarrow.compute as pc
from deltalake import DeltaTable
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common import consent
from libs.common.errors import Conflict, NotFound, Unprocessable
from libs.common.lake import Lake, plain_strings, vacuum_all
from libs.common.lake_crypto import SUBJECT_COLUMN
from libs.common.lake_locks import pull_job_locked, raw_events_locked, take_tenant_table_lock
from libs.common.lake_tables import PULLED, RAW_EVENTS, TENANTS
from services.catalog.assets.known import DERIVED
from services.catalog.transform.lock import take_derived_lock


@asynccontextmanager
async def writer_lock(engine: AsyncEngine, location: str) -> AsyncIterator[None]:
    """The lock the table's writers take (none for tables with a single writer)."""
    async with engine.connect() as conn:
        parts = location.split("/")
        if location == RAW_EVENTS:
            async with raw_events_locked(conn):
                yield
        elif location.startswith(TENANTS + "/") and len(parts) == 4:
            async with conn.begin():
                await take_tenant_table_lock(conn, parts[2], parts[3])
                yield
        elif location.startswith(PULLED + "/") and len(parts) == 3:
            async with pull_job_locked(conn, parts[2], wait=True):
                yield
        elif location.startswith(DERIVED + "/"):
            async with conn.begin():
                await take_derived_lock(conn, location)
                yield
        else:
            yield


def _erase_again(lake: Lake, location: str, table: DeltaTable, erased: list[str]) -> dict[str, int]:
    """Delete the erased subjects' rows, then vacuum every file not in the new version."""
    keys = ", ".join(f"'{k}'" for k in erased)  # keyed hashes (hex): no quote in them
    deleted = table.delete(predicate=f"{SUBJECT_COLUMN} IN ({keys})")
    purged = vacuum_all(lake, location, table)
    table.create_checkpoint()
    return {"rows_removed": int(deleted["num_deleted_rows"]), "files_purged": purged}


def _subjects(table: DeltaTable) -> list[str]:
    if SUBJECT_COLUMN not in table.schema().to_arrow().names:
        return []
    column = plain_strings(table.to_pyarrow_dataset().to_table(columns=[SUBJECT_COLUMN]))
    return [k for k in pc.unique(column.column(SUBJECT_COLUMN)).to_pylist() if k]


async def restore(
    engine: AsyncEngine, lake: Lake, location: str, version: int, *, confirmed: bool
) -> dict[str, Any]:
    """Restore the table at `location` to `version`; what was done."""
    if location == RAW_EVENTS:
        raise Conflict(
            f"{RAW_EVENTS} is not restored: it holds acknowledged events, and a restore would "
            "drop those landed since",
            errors=[{"field": "asset_id", "reason": RAW_EVENTS}],
        )
    if not confirmed:
        raise Unprocessable(
            "a restore drops from the current version what was written after the version "
            "restored: set drop_later_writes to true",
            errors=[{"field": "drop_later_writes", "reason": "must be true"}],
        )
    async with writer_lock(engine, location):
        table = await asyncio.to_thread(lake.delta_table, location)
        if table is None:
            raise NotFound("the asset's table is no longer in the lake")
        current = table.version()
        if not 0 <= version < current:
            raise Unprocessable(
                f"version must be an earlier version of the table, 0 to {current - 1}",
                errors=[{"field": "version", "reason": f"the table is at version {current}"}],
            )
        try:
            await asyncio.to_thread(table.restore, version)
        except Exception as exc:  # delta-rs names missing files in a generic error
            raise Conflict(
                f"version {version} cannot be restored: data files it needs are gone "
                "(erasure and retention remove them at once, so an erased user cannot return)",
                errors=[{"field": "version", "reason": "its files were vacuumed"}],
            ) from exc
        restored = table.version()
        async with engine.connect() as conn:
            erased = await consent.tombstoned(conn, await asyncio.to_thread(_subjects, table))
        counts = {"rows_removed": 0, "files_purged": 0}
        if erased:
            counts = await asyncio.to_thread(_erase_again, lake, location, table, sorted(erased))
    return {
        "outcome": "restored_erasures_reapplied" if erased else "restored",
        "restored_from": current, "restored_to": version, "restore_version": restored,
        "version": table.version(), "erasures_reapplied": len(erased), **counts,
    }  # fmt: skip
