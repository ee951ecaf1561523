"""Running one pull job, exactly once whatever crashes when.

1. lock the job (a session advisory lock: one run at a time, freed if the worker dies);
2. recover: if the job's table holds a commit newer than Postgres's copy of the position (a
   run crashed after its lake commit), adopt that commit's position;
3. fetch past the position, land the rows in one Delta commit carrying the new position;
4. copy the position to Postgres. A crash before 3's commit lands nothing; after it, step 2
   of the next run finishes the job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.catalog import asset_written, run_event, run_id_for
from libs.common.crypto import get_data_keys, make_provider
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.lake_crypto import subjects_in
from libs.common.lake_locks import JobBusy, pull_job_locked
from services.ingest.config import IngestSettings
from services.ingest.flush import metrics
from services.ingest.outbox import repository as ingest_repository
from services.ingest.pull import repository
from services.ingest.pull.addresses import HostPolicy
from services.ingest.pull.credentials import SecretsUnreadable, revealed_source
from services.ingest.pull.fetched import Fetched, SourceFailed
from services.ingest.pull.sources.files import fetch_files
from services.ingest.pull.sources.http import fetch_http
from services.ingest.pull.sources.postgres import fetch_postgres
from services.ingest.pull.table import PulledTable, build_rows, encrypt_records
from services.ingest.quality import service as quality

log = structlog.get_logger(__name__)


@dataclass
class RunReport:
    job_id: int
    run_id: str | None = None
    state: str = "skipped"  # landed | empty | failed | skipped
    rows: int = 0
    files: int = 0
    recovered: bool = False
    reason: str | None = None


async def run_pull(
    job_id: int, settings: IngestSettings, lake: Lake, *, trigger: str = "schedule"
) -> RunReport:
    engine = one_shot_engine(settings.database_url)
    report = RunReport(job_id=job_id)
    try:
        async with engine.connect() as owner:
            try:
                async with pull_job_locked(owner, job_id, wait=False):
                    return await _run_locked(
                        engine, job_id, settings, lake, trigger=trigger, report=report
                    )
            except JobBusy:
                report.reason = "another run of the job is in progress"
                return report
    finally:
        await engine.dispose()


async def _run_locked(
    engine: AsyncEngine,
    job_id: int,
    settings: IngestSettings,
    lake: Lake,
    *,
    trigger: str,
    report: RunReport,
) -> RunReport:
    async with engine.connect() as conn:
        job = await repository.load_job(conn, job_id)
    if job is None:
        report.reason = "no such job"
        return report
    if trigger == "schedule" and job["status"] != "active":
        report.reason = f"the job is {job['status']}"
        return report
    table = PulledTable(lake, job["name"])
    cursor = job["cursor"]
    report.recovered, cursor = await _recover(engine, job, table, cursor)

    run_id = uuid.uuid4().hex
    report.run_id = run_id
    async with engine.begin() as conn:
        await repository.abandon_runs(conn, job_id)
        await repository.start_run(conn, run_id, job_id, trigger)
    try:
        fetched = await _fetch(engine, job, cursor, settings, lake)
        version = None
        if fetched.records:
            rows = build_rows(
                fetched.records,
                fetched.positions,
                run_id=run_id,
                landing=job["landing"],
                settings=settings,
            )
            rows = await seal(engine, rows)
            version = table.append(rows, run_id=run_id, cursor=fetched.cursor, files=fetched.files)
    except SourceFailed as exc:
        return await _failed(engine, job_id, run_id, str(exc), report)
    except Exception as exc:  # the type only: a message can carry data or secrets
        return await _failed(
            engine, job_id, run_id, f"the run failed ({type(exc).__name__})", report
        )

    async with engine.begin() as conn:
        await repository.take_files(conn, job_id, run_id, fetched.files)
        if version is not None:
            await repository.record_landed(
                conn, job_id, run_id=run_id, cursor=fetched.cursor, lake_version=version
            )
        await repository.finish_run(
            conn,
            run_id,
            state="landed" if fetched.records else "empty",
            rows=len(fetched.records),
            files=len(fetched.files),
            lake_version=version,
        )
        await repository.record_success(conn, job_id)
        # freshness and volume per job in the quality report (data type "pull")
        await quality.record(conn, job["name"], "pull", accepted=len(fetched.records))
    if version is not None:  # after the Delta commit and the transaction recording it
        asset_written(table.path, service="ingest")
        run_event(run_id_for("ingest.pull", str(report.run_id)), job="ingest.pull",
                  service="ingest", state="COMPLETE", outputs=[(table.path, version)],
                  facets={"job": job["name"], "records": len(fetched.records)})  # fmt: skip
    report.state = "landed" if fetched.records else "empty"
    report.rows, report.files = len(fetched.records), len(fetched.files)
    log.info(
        "pull_run_done",
        job_id=job_id,
        run_id=run_id,
        state=report.state,
        rows=report.rows,
        files=report.files,
        lake_version=version,
    )
    return report


async def seal(engine: AsyncEngine, rows: pa.Table) -> pa.Table:
    """Encrypt records of known users; drop those of erased users (a tombstone, no key)."""
    async with engine.begin() as conn:  # its own transaction: new keys commit before use
        subjects = subjects_in(rows)
        keys = await get_data_keys().for_subjects(conn, subjects, create=True)
        for gone in await ingest_repository.tombstoned(conn, sorted(keys)):
            del keys[gone]  # a cached key can outlive its user's erasure by the cache TTL
    sealed = encrypt_records(rows, keys)
    if sealed.num_rows < rows.num_rows:
        metrics.ROWS_REFUSED_ERASED.inc(rows.num_rows - sealed.num_rows)
    return sealed


async def _recover(
    engine: AsyncEngine, job: Any, table: PulledTable, cursor: dict[str, Any] | None
) -> tuple[bool, dict[str, Any] | None]:
    """Adopt the table's newest position if Postgres missed it (a crash after the commit)."""
    position = table.last_position()
    if position is None or position.run_id == job["last_landed_run"]:
        return False, cursor
    if job["lake_version"] is not None and position.version <= job["lake_version"]:
        return False, cursor
    async with engine.begin() as conn:
        await repository.take_files(conn, job["id"], position.run_id, position.files)
        await repository.record_landed(
            conn,
            job["id"],
            run_id=position.run_id,
            cursor=position.cursor,
            lake_version=position.version,
        )
        await repository.finish_run(
            conn,
            position.run_id,
            state="landed",
            files=len(position.files),
            lake_version=position.version,
        )
    log.warning("pull_run_recovered", job_id=job["id"], run_id=position.run_id)
    return True, position.cursor if position.cursor is not None else cursor


async def _fetch(
    engine: AsyncEngine,
    job: Any,
    cursor: dict[str, Any] | None,
    settings: IngestSettings,
    lake: Lake,
) -> Fetched:
    try:
        source = revealed_source(job, provider=make_provider(settings))
    except SecretsUnreadable:
        raise SourceFailed(
            "the job's secrets cannot be decrypted (sealed under another master key?)"
        ) from None
    limit = settings.ingest_pull_max_rows_per_run
    timeout = settings.ingest_pull_timeout_s
    if job["kind"] == "postgres":
        return await fetch_postgres(source, cursor, max_rows=limit, timeout_s=timeout)
    if job["kind"] == "http":
        return await fetch_http(
            source, cursor, max_rows=limit, timeout_s=timeout, policy=HostPolicy.of(settings)
        )
    async with engine.connect() as conn:
        taken = await repository.taken_files(conn, job["id"])
    return fetch_files(
        source,
        taken,
        lake=lake,
        settings=settings,
        max_files=settings.ingest_pull_max_files_per_run,
        max_rows=limit,
    )


async def _failed(
    engine: AsyncEngine, job_id: int, run_id: str, reason: str, report: RunReport
) -> RunReport:
    async with engine.begin() as conn:
        await repository.finish_run(conn, run_id, state="failed", error=reason)
        errors, _ = await repository.record_failure(conn, job_id, reason)
    log.warning("pull_run_failed", job_id=job_id, run_id=run_id, reason=reason, errors=errors)
    report.state, report.reason = "failed", reason
    return report
