"""`applyTransformation`: one read-only query over an asset, written as a derived asset.

The order keeps erasure real while a transformation runs:
1. the source is read as the purpose may see it (source.py) and the query runs on it;
2. the derived asset and its contributors (subject keys) are recorded and committed, so an
   erasure that starts from here on finds the asset;
3. under the asset's lock (the one its erasure takes), users erased meanwhile (tombstones,
   written before any erasure step runs) are taken out, then the table is written;
4. the catalog registers the asset and records the run's lineage (source at its version,
   the new table at its own), forwarded to OpenLineage when configured.
A failure after step 2 removes the row and whatever was written.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import WriterProperties, write_deltalake
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.audit import AuditPurpose
from libs.common.consent import tombstoned
from libs.common.contracts import ConsentPurpose, DatasetVersion, RunEvent
from libs.common.duckdb_sql import SqlFailed, SqlTimeout, query_arrow
from libs.common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    Unprocessable,
)
from libs.common.lake import Lake
from libs.common.lake_crypto import SUBJECT_COLUMN
from services.catalog.assets import repository
from services.catalog.assets.known import derived_location
from services.catalog.assets.service import asset_id, register
from services.catalog.config import CatalogSettings
from services.catalog.lineage import openlineage
from services.catalog.lineage import service as lineage
from services.catalog.transform.delta_ready import delta_ready
from services.catalog.transform.lock import take_derived_lock
from services.catalog.transform.metrics import TRANSFORM_SECONDS, TRANSFORMATIONS
from services.catalog.transform.models import PRESENT, WRITING, DerivedRow, DerivedSubjectRow
from services.catalog.transform.plan import TransformationType, plan
from services.catalog.transform.source import Source, read_source, visible

JOB = "catalog.transform"
PURPOSES = {
    AuditPurpose.Analytics: ConsentPurpose.ANALYTICS,
    AuditPurpose.MachineLearning: ConsentPurpose.AI_TRAINING,
    AuditPurpose.Research: ConsentPurpose.RESEARCH,
}
SUBJECTS_CHUNK = 5000


def consent_purpose(purpose: AuditPurpose) -> ConsentPurpose:
    """The consent a caller's purpose needs; a transformation is a use, so Admin is none."""
    if purpose not in PURPOSES:
        allowed = ", ".join(PURPOSES)
        raise Forbidden(
            f"a transformation is a use of users' data: send X-Purpose {allowed}",
            errors=[{"field": "X-Purpose", "reason": f"one of {allowed}"}],
        )
    return PURPOSES[purpose]


@contextmanager
def _counted(kind: TransformationType) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    except ServiceError:
        TRANSFORMATIONS.labels(kind.value, "refused").inc()
        raise
    except Exception:
        TRANSFORMATIONS.labels(kind.value, "failed").inc()
        raise
    TRANSFORMATIONS.labels(kind.value, "created").inc()
    TRANSFORM_SECONDS.observe(time.monotonic() - started)


async def apply(
    *,
    engine: AsyncEngine,
    lake: Lake,
    settings: CatalogSettings,
    source_id: uuid.UUID,
    kind: TransformationType,
    parameters: Any,
    purpose: AuditPurpose,
) -> uuid.UUID:
    """Make the derived asset from the asset `source_id`; its id (registered)."""
    with _counted(kind):
        use = consent_purpose(purpose)
        async with engine.connect() as conn:
            asset = await repository.get(conn, source_id)
        if asset is None:
            raise NotFound(
                "no asset has this id", errors=[{"field": "assetId", "reason": "unknown"}]
            )
        todo = plan(kind, parameters, visible(asset["columns"], use)[0])  # refuse before reading
        location = derived_location(use, todo.name)
        source = await read_source(engine, lake, settings, asset, use,
                                   rows_max=settings.catalog_transform_source_rows_max)  # fmt: skip
        result = await _run(settings, todo.query, todo.params, source)
        run_id = uuid.uuid4()
        at = datetime.now(UTC)
        await _claim(engine, location, asset, source, kind=kind, use=use, at=at)
        try:
            version = await _write(engine, lake, location, result, source)
        except BaseException:
            await _release(engine, lake, location)
            raise
        await register(engine=engine, lake=lake, settings=settings, path=location, writer="catalog")
        event = RunEvent(
            run_id=run_id, job=JOB, service="catalog", state="COMPLETE", at=datetime.now(UTC),
            inputs=[DatasetVersion(path=asset["location"], version=source.version)],
            outputs=[DatasetVersion(path=location, version=version)],
            facets={"transformation": kind.value, "purpose": use.value, "rows": result.num_rows,
                    "columns_withheld": len(source.withheld)},
        )  # fmt: skip
        await lineage.record(engine, event.model_copy(update={"state": "START", "at": at}))
        await lineage.record(engine, event)
        await asyncio.to_thread(openlineage.emit, settings, lake, event)
        return asset_id(location)


async def _run(
    settings: CatalogSettings, query: str, params: list[Any], source: Source
) -> pa.Table:
    limit = settings.catalog_transform_rows_max
    try:
        table = await asyncio.to_thread(
            query_arrow, query, {"source": source.table}, params=params, row_limit=limit,
            timeout_s=settings.catalog_transform_timeout_s,
            memory_limit=settings.catalog_transform_memory,
        )  # fmt: skip
    except SqlTimeout as exc:
        raise Unprocessable(
            str(exc), errors=[{"field": "parameters", "reason": "too slow"}]
        ) from None
    except SqlFailed as exc:  # the caller's own query and values, shown back to them
        raise Unprocessable(f"the query failed: {exc}",
                            errors=[{"field": "parameters", "reason": str(exc)[:300]}],
                            ) from None  # fmt: skip
    if table.num_rows > limit:
        raise PayloadTooLarge(
            f"the result has more than {limit} rows; narrow it",
            errors=[{"field": "parameters", "reason": "too many rows"}],
        )
    table = delta_ready(table)
    if SUBJECT_COLUMN in table.column_names:
        _check_subjects(table, source.contributors)
    return table


def _check_subjects(table: pa.Table, contributors: frozenset[str]) -> None:
    """subject_key must be the source's own keys: erasure deletes a user's rows by them."""
    column = table.column(SUBJECT_COLUMN)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise Unprocessable(
            f"{SUBJECT_COLUMN} must stay the source's keyed hash (a string)",
            errors=[{"field": "parameters", "reason": f"{SUBJECT_COLUMN} changed type"}],
        )
    keys = set(pc.unique(column).drop_null().to_pylist())
    if column.null_count or not keys <= contributors:
        raise Unprocessable(
            f"{SUBJECT_COLUMN} must hold the source's keys, unchanged and never null: an "
            "erasure finds a user's rows by them (drop the column for results without users)",
            errors=[{"field": "parameters", "reason": f"{SUBJECT_COLUMN} values changed"}],
        )


async def _claim(
    engine: AsyncEngine, location: str, asset: dict[str, Any], source: Source,
    *, kind: TransformationType, use: ConsentPurpose, at: datetime,
) -> None:  # fmt: skip
    """Record the asset and whom it is computed from, committed before anything is written."""
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(DerivedRow).values(
                location=location, source_location=asset["location"],
                source_version=source.version, transformation=kind.value, purpose=use.value,
                status=WRITING, created_at=at,
            ))  # fmt: skip
            keys = sorted(source.contributors)
            for i in range(0, len(keys), SUBJECTS_CHUNK):
                chunk = keys[i : i + SUBJECTS_CHUNK]
                rows = [{"location": location, "subject_key": k} for k in chunk]
                await conn.execute(insert(DerivedSubjectRow), rows)
    except IntegrityError:
        raise Conflict(
            f"an asset named {location.rsplit('/', 1)[-1]} exists for {use.value}; choose another",
            errors=[{"field": "parameters.name", "reason": "taken"}],
        ) from None


async def _write(
    engine: AsyncEngine, lake: Lake, location: str, result: pa.Table, source: Source
) -> int:
    async with engine.connect() as conn, conn.begin():
        await take_derived_lock(conn, location)
        erased = await tombstoned(conn, sorted(source.contributors))
        if erased and SUBJECT_COLUMN not in result.column_names:
            raise Conflict(
                "a user the result was computed from was erased meanwhile; run it again",
                errors=[{"field": "assetId", "reason": "erased meanwhile"}],
            )
        if erased:
            gone = pc.is_in(result.column(SUBJECT_COLUMN), value_set=pa.array(erased))
            result = result.filter(pc.invert(gone))
            await conn.execute(delete(DerivedSubjectRow).where(
                DerivedSubjectRow.location == location,
                DerivedSubjectRow.subject_key.in_(erased),
            ))  # fmt: skip
        version = await asyncio.to_thread(_write_table, lake, location, result)
        await conn.execute(
            update(DerivedRow).where(DerivedRow.location == location).values(status=PRESENT)
        )
    return version


# No column statistics in the table's log: a log is never vacuumed, so a min or max there
# could keep an erased user's value (a subject key, a text) after their rows are deleted.
NO_LOG_STATS = {"delta.dataSkippingNumIndexedCols": "0"}


def _write_table(lake: Lake, location: str, table: pa.Table) -> int:
    write_deltalake(lake.uri(location), table, mode="error", configuration=NO_LOG_STATS,
                    storage_options=lake.storage_options,
                    writer_properties=WriterProperties(compression="ZSTD"))  # fmt: skip
    written = lake.delta_table(location)
    assert written is not None
    return written.version()


async def _release(engine: AsyncEngine, lake: Lake, location: str) -> None:
    """Undo a claim whose write failed: its files, then its rows."""
    for obj in await asyncio.to_thread(lake.list, location):
        await asyncio.to_thread(lake.delete, obj.path)
    async with engine.begin() as conn:
        await conn.execute(delete(DerivedRow).where(DerivedRow.location == location))
