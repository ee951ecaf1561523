"""The catalog's place in the erasure and portability registry.

`catalog.derived`: the derived assets a user was computed from (transform/). A user's erasure
deletes their rows from each such asset that keeps `subject_key` (then vacuums the files that
held them, so no old version yields them), and drops whole each one without it (an aggregate
cannot lose one user's share), under the asset's lock. Their export lists the assets and
holds their rows.

Free of user data: assets are locations, schemas, sizes and counts (the privacy classes come
from a sample that is read, judged and dropped); runs are job names, times, asset locations
and versions, and the jobs' own facets (libs/common/catalog.py says writers put no user data
there); `catalog.derived` is what each derived asset was made from.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow.compute as pc
from sqlalchemy import delete, select, update

from libs.common.contracts import SubjectStore
from libs.common.lake import Lake, plain_strings, vacuum_all
from libs.common.lake_crypto import SUBJECT_COLUMN
from libs.common.subject_rights import Collected, StoreHandler, SubjectContext
from services.catalog.assets.service import register
from services.catalog.config import get_catalog_settings
from services.catalog.transform.lock import take_derived_lock
from services.catalog.transform.models import DROPPED, DerivedRow, DerivedSubjectRow

NO_SUBJECT_DATA: tuple[str, ...] = (
    "catalog.assets", "catalog.runs", "catalog.run_datasets", "catalog.derived",
)  # fmt: skip


def _rows(lake: Lake, location: str, subject: str) -> list[dict[str, Any]] | None:
    """The user's rows of the asset; None when the asset has no subject_key (or is gone)."""
    table = lake.delta_table(location)
    if table is None or SUBJECT_COLUMN not in table.schema().to_arrow().names:
        return None
    rows = plain_strings(table.to_pyarrow_dataset().to_table())
    found: list[dict[str, Any]] = rows.filter(pc.equal(rows[SUBJECT_COLUMN], subject)).to_pylist()
    return found


def _erase(lake: Lake, location: str, subject: str) -> tuple[int, bool]:
    """(rows deleted, whether the whole asset was dropped)."""
    table = lake.delta_table(location)
    if table is None:
        return 0, False
    if SUBJECT_COLUMN in table.schema().to_arrow().names:
        # subject_key is a keyed hash in hex: safe to quote in the predicate
        metrics = table.delete(f"{SUBJECT_COLUMN} = '{subject}'")
        vacuum_all(lake, location, table)
        return int(metrics.get("num_deleted_rows", 0)), False
    for obj in lake.list(location):
        lake.delete(obj.path)
    return 0, True


class DerivedStore:
    tables: tuple[str, ...] = ("catalog.derived_subjects",)

    @staticmethod
    async def _locations(ctx: SubjectContext) -> list[str]:
        async with ctx.engine.connect() as conn:
            found = await conn.scalars(
                select(DerivedSubjectRow.location)
                .where(DerivedSubjectRow.subject_key == ctx.subject_key)
                .order_by(DerivedSubjectRow.location)
            )
            return list(found)

    async def collect(self, ctx: SubjectContext) -> Collected:
        records: list[dict[str, Any]] = []
        for location in await self._locations(ctx):
            rows = await asyncio.to_thread(_rows, ctx.lake, location, ctx.subject_key)
            records.append({"derived_asset": location, "rows": rows})
        return Collected(records=records)

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        deleted = dropped = 0
        for location in await self._locations(ctx):
            async with ctx.engine.connect() as conn, conn.begin():
                await take_derived_lock(conn, location)
                rows, whole = await asyncio.to_thread(_erase, ctx.lake, location, ctx.subject_key)
                deleted, dropped = deleted + rows, dropped + whole
                gone = DerivedSubjectRow.location == location
                if whole:  # nobody is in it any more
                    await conn.execute(update(DerivedRow).where(
                        DerivedRow.location == location).values(status=DROPPED))  # fmt: skip
                else:
                    gone &= DerivedSubjectRow.subject_key == ctx.subject_key
                await conn.execute(delete(DerivedSubjectRow).where(gone))
            await register(engine=ctx.engine, lake=ctx.lake, settings=get_catalog_settings(),
                           path=location, writer="catalog")  # fmt: skip
        return {"rows": deleted, "assets_dropped": dropped}


HANDLERS: dict[str, StoreHandler] = {SubjectStore.CATALOG_DERIVED: DerivedStore()}
