"""Retention enforcement: delete what is past its policy, record and audit what went.

One run visits every policy (compliance.retention_policies): a Delta target loses its date
partitions older than the cutoff (under the raw-events writer lock, then vacuum and
checkpoint, so the bytes are gone at once and not after the table's own retention); a Delta
prefix (`delta_tables`) does the same to every Delta table under it, each under the lock its
own writers take (a tenant table's, a pull job's), by the table's date partition or the
policy's date column, and lists the tables it cannot age; an object target loses the objects
last written before the cutoff. A policy that fails is recorded with its error and the others
still run; the run is then `failed` and the next run tries again (deleting is idempotent).
Each removal is an audit entry (action Delete, no subject).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common import lake_tables
from libs.common.audit import AuditAction, AuditEntry, AuditPurpose, insert_outbox
from libs.common.db import one_shot_engine
from libs.common.lake import Lake, delta_tables
from libs.common.lake_locks import pull_job_locked, raw_events_locked, take_tenant_table_lock
from libs.common.metrics import Counter
from libs.common.settings import CommonSettings
from services.compliance.retention import repository
from services.compliance.retention.lake import (
    Removed,
    purge_objects,
    purge_partitions,
    purge_table,
)
from services.compliance.retention.models import RetentionPolicy

log = structlog.get_logger(__name__)

ROWS_REMOVED = Counter(
    "mindlake_retention_rows_removed_total",
    "Rows deleted from Delta tables for being past their retention",
    ["zone", "data_type"],
)
OBJECTS_REMOVED = Counter(
    "mindlake_retention_objects_removed_total",
    "Lake objects (data files included) deleted for being past their retention",
    ["zone", "data_type"],
)
BYTES_REMOVED = Counter(
    "mindlake_retention_bytes_removed_total",
    "Bytes deleted from the lake for being past their retention",
    ["zone", "data_type"],
)
ERRORS = Counter(
    "mindlake_retention_errors_total", "Retention policies whose run failed", ["zone", "data_type"]
)
SYSTEM_ACTOR = "retention"


TENANT_TABLE = re.compile(re.escape(lake_tables.TENANTS) + r"/([^/]+)/([^/]+)")  # CSV uploads
PULLED_TABLE = re.compile(re.escape(lake_tables.PULLED) + r"/([^/]+)")  # pull jobs' tables


class UnknownWriters(Exception):
    """No known lock serializes the table's writers: purging it could race them."""


@asynccontextmanager
async def writer_lock(engine: AsyncEngine, path: str) -> AsyncIterator[None]:
    """Hold, around a purge, the lock every writer of the table at `path` takes.

    A tenant table: the CSV upload's transaction lock (waits for a running upload). A pulled
    table: its pull job's run lock (waits for a running pull; a run that starts meanwhile finds
    the job busy and runs next time); a table whose job was deleted has no writer left.
    """
    if tenant := TENANT_TABLE.fullmatch(path):
        async with engine.begin() as conn:  # held until this transaction ends
            await take_tenant_table_lock(conn, tenant[1], tenant[2])
            yield
        return
    if not (pulled := PULLED_TABLE.fullmatch(path)):
        raise UnknownWriters(f"no known writer lock for {path}: not purged")
    async with engine.connect() as conn, pull_job_locked(conn, pulled[1], wait=True):
        yield


async def purge_tables(
    engine: AsyncEngine, lake: Lake, policy: RetentionPolicy, cutoff: date
) -> Removed:
    """Every Delta table under the policy's prefix, one at a time under its writers' lock. A
    table that fails is recorded (`failed_tables`) and the others still go."""
    total = Removed()
    for path in await asyncio.to_thread(delta_tables, lake, policy.target):
        try:
            async with writer_lock(engine, path):
                removed = await asyncio.to_thread(
                    purge_table, lake, path, policy.date_column, cutoff
                )
        except UnknownWriters as exc:
            total.skip(path, str(exc))
            continue
        except Exception as exc:
            total.failed_tables[path] = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        total.add(path, removed)
    return total


async def enforce_policy(
    engine: AsyncEngine, lake: Lake, policy: RetentionPolicy, now: datetime
) -> Removed:
    if policy.target_kind == "delta_tables":
        return await purge_tables(
            engine, lake, policy, (now - timedelta(days=policy.retention_days)).date()
        )
    if policy.target_kind == "delta":
        cutoff_day = (now - timedelta(days=policy.retention_days)).date()
        # Every writer of the raw table holds its lock.
        async with engine.connect() as conn, raw_events_locked(conn):
            return await asyncio.to_thread(
                purge_partitions, lake, policy.target, policy.date_column or "", cutoff_day
            )
    cutoff = now - timedelta(days=policy.retention_days)
    return await asyncio.to_thread(
        purge_objects, lake, policy.target, cutoff, keep_latest=policy.keep_latest
    )


def _result(policy: RetentionPolicy, now: datetime) -> dict[str, Any]:
    cutoff = now - timedelta(days=policy.retention_days)
    return {
        "zone": policy.zone,
        "data_type": policy.data_type,
        "target": policy.target,
        "retention_days": policy.retention_days,
        "cutoff": (cutoff if policy.target_kind == "objects" else cutoff.date()).isoformat(),
    }


def _audit_entry(actor: str, result: dict[str, Any], at: datetime) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        purpose=AuditPurpose.Admin,
        action=AuditAction.Delete,
        asset=f"{result['target']} (retention {result['retention_days']} d)",
        subject=None,
        at=at,
    )


async def run_retention(
    engine: AsyncEngine,
    lake: Lake,
    *,
    run_id: uuid.UUID | None = None,
    trigger: str = "beat",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run every policy once; returns the run as recorded. Without `run_id`, a new run by the
    system (`trigger`); with it, the queued run (its own trigger and requester). `now` is for
    tests."""
    async with engine.begin() as conn:
        if run_id is None:
            requested_by = SYSTEM_ACTOR
            run_id = await repository.create_run(
                conn, trigger=trigger, requested_by=requested_by, status="running"
            )
        else:
            claimed_by = await repository.start_queued(conn, run_id)
            if claimed_by is None:  # a redelivery: it ran already
                done = await repository.run(conn, run_id)
                return {"id": str(run_id), "status": done.status if done else "missing"}
            requested_by = claimed_by
        policies = await repository.policies(conn)
    now = now or datetime.now(UTC)
    async with engine.connect() as lock_conn:
        if not await repository.try_run_lock(lock_conn):
            await lock_conn.commit()
            return await _finish(engine, run_id, "skipped", [], requested_by)
        await lock_conn.commit()
        results: list[dict[str, Any]] = []
        try:
            for policy in policies:
                results.append(await _run_one(engine, lake, policy, now))
        except BaseException as exc:  # stopped mid-run: recorded as such, not left "running"
            results.append({"error": f"the run stopped: {type(exc).__name__}"})
            await asyncio.shield(_finish(engine, run_id, "failed", results, requested_by))
            raise
        finally:
            await repository.release_run_lock(lock_conn)
            await lock_conn.commit()
    status = "failed" if any("error" in r for r in results) else "done"
    return await _finish(engine, run_id, status, results, requested_by)


async def _run_one(
    engine: AsyncEngine, lake: Lake, policy: RetentionPolicy, now: datetime
) -> dict[str, Any]:
    result = _result(policy, now)
    labels = {"zone": policy.zone, "data_type": policy.data_type}
    try:
        removed = await enforce_policy(engine, lake, policy, now)
    except Exception as exc:
        ERRORS.labels(**labels).inc()
        # The type and a short message: lake paths and dates, never a user's data.
        result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        log.warning("retention_policy_failed", error_type=type(exc).__name__, **labels)
        return result
    result.update(asdict(removed))
    if removed.failed_tables:  # the tables that did go are counted; the run still fails
        ERRORS.labels(**labels).inc()
        result["error"] = f"{len(removed.failed_tables)} table(s) failed, see failed_tables"
        log.warning("retention_tables_failed", tables=len(removed.failed_tables), **labels)
    ROWS_REMOVED.labels(**labels).inc(removed.rows)
    OBJECTS_REMOVED.labels(**labels).inc(removed.files)
    BYTES_REMOVED.labels(**labels).inc(removed.bytes)
    log.info("retention_policy_done", rows=removed.rows, files=removed.files, **labels)
    return result


async def _finish(
    engine: AsyncEngine,
    run_id: uuid.UUID,
    status: str,
    results: list[dict[str, Any]],
    actor: str,
) -> dict[str, Any]:
    totals = {
        "rows_removed": sum(r.get("rows", 0) for r in results),
        "objects_removed": sum(r.get("files", 0) for r in results),
        "bytes_removed": sum(r.get("bytes", 0) for r in results),
        "errors": sum(1 for r in results if "error" in r),
    }
    if status == "skipped":
        totals["errors"] = 1
        results = [{"error": "another retention run holds the lock"}]
    entries = [
        _audit_entry(actor, r, datetime.now(UTC))
        for r in results
        if r.get("files") or r.get("rows")
    ]
    async with engine.begin() as conn:  # the record and its audit entries commit together
        await repository.finish_run(conn, run_id, status=status, totals=totals, results=results)
        if entries:
            await insert_outbox(conn, entries)
    log.info("retention_run_finished", run_id=str(run_id), status=status, **totals)
    return {"id": str(run_id), "status": status, **totals, "results": results}


async def run_task(settings: CommonSettings, run_id: str | None) -> dict[str, Any]:
    """Body of the `compliance.retention` task (beat: no run id; the API: a queued run)."""
    engine = one_shot_engine(settings.database_url)
    try:
        return await run_retention(
            engine,
            Lake(settings),
            run_id=None if run_id is None else uuid.UUID(run_id),  # queued by the API
        )
    finally:
        await engine.dispose()
