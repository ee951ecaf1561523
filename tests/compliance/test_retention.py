"""Retention: a run removes only what is past its policy (Delta partitions and objects, on a
local lake and over the S3 API), records and audits it; policies are editable by admins."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.subjects import subject_key
from services.compliance.retention import repository as retention_repository
from services.compliance.retention.service import run_retention
from services.ingest.flush.raw_table import SCHEMA, RawEventsTable
from tests.compliance.test_worker import start_worker

DEFAULT_DAYS = {
    ("raw", "events"): 365,
    ("processed", "training-data"): 730,
    ("processed", "risk-assessments"): 90,
    ("models", "model-versions"): 30,
    ("logs", "logs"): 90,
    ("raw", "tenant-interactions"): 365,
    ("raw", "pulled"): 365,
    ("raw", "quarantine"): 90,
}
TODAY = datetime.now(UTC).date()
OLD_DAYS = (TODAY - timedelta(days=500), TODAY - timedelta(days=400))  # past 365 days
YOUNG_DAYS = (TODAY - timedelta(days=300), TODAY)


async def set_days(days: dict[tuple[str, str], int]) -> None:
    async with get_engine().begin() as conn:
        for (zone, data_type), n in days.items():
            await retention_repository.set_days(conn, zone, data_type, days=n, updated_by="test")


@pytest.fixture
async def clean_retention(database: str) -> AsyncIterator[None]:
    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE compliance.retention_runs, common.audit_outbox"))
    await set_days(DEFAULT_DAYS)
    yield
    await set_days(DEFAULT_DAYS)


def events(day: date, service: str, n: int, settings: Any) -> pa.Table:
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    users = [f"user-{i % 7}" for i in range(n)]
    return pa.table(
        {
            "event_id": [uuid.uuid4().hex for _ in range(n)],
            "service": [service] * n,
            "event_date": [day] * n,
            "event_type": ["journal_entry"] * n,
            "user_id": users,
            "subject_key": [subject_key(u, settings) for u in users],
            "event_time": [at] * n,
            "received_at": [at] * n,
            "body": ['{"text": "a day like any other"}'] * n,
            "extras": [None] * n,
            "pii_findings": [0] * n,
            "flush_batch": [1] * n,
        },
        schema=SCHEMA,
    )


def write_events(lake: Lake, settings: Any) -> dict[date, int]:
    table = RawEventsTable(lake)
    counts: dict[date, int] = {}
    for i, day in enumerate(OLD_DAYS + YOUNG_DAYS):
        for service in ("journal", "chat"):
            table.append(events(day, service, 5 + i, settings), token=uuid.uuid4().hex)
            counts[day] = counts.get(day, 0) + 5 + i
    return counts


def delta_dates(lake: Lake) -> dict[date, int]:
    table = lake.delta_table("raw/events")
    assert table is not None
    dates = table.to_pyarrow_table(columns=["event_date"]).column("event_date").to_pylist()
    return {d: dates.count(d) for d in set(dates)}


OLD_OBJECTS = (
    "processed/training-data/2024-01-01/export.jsonl.gz",
    "processed/risk-assessments/2024-01-01.parquet",
    "logs/ingest/2024-01-01.log",
    "models/risk/v1/model.bin",
    "models/risk/v1/metrics.json",
)
OLD_LATEST_MODEL = "models/risk/v2/model.bin"  # old, but the newest version: kept
YOUNG_OBJECTS = (
    "processed/training-data/2026-01-01/export.jsonl.gz",
    "processed/risk-assessments/2026-01-01.parquet",
    "logs/ingest/2026-01-01.log",
    "models/mood/v1/model.bin",
)
OLD_TABLE = "processed/training-data/features"  # a Delta table under an object prefix


def write_objects(lake: Lake) -> datetime:
    """Old objects, then (a second later each, as S3 times have a second's precision) the
    newest old model version, then young objects; returns the moment between old and young."""
    for path in OLD_OBJECTS:
        lake.write_bytes(path, b"old " + path.encode())
    write_deltalake(
        lake.uri(OLD_TABLE),
        pa.table({"x": [1, 2, 3]}),
        storage_options=lake.storage_options,
    )
    time.sleep(1.2)
    lake.write_bytes(OLD_LATEST_MODEL, b"old but latest")
    time.sleep(1.2)
    between = datetime.now(UTC)
    time.sleep(1.2)
    for path in YOUNG_OBJECTS:
        lake.write_bytes(path, b"young " + path.encode())
    return between


async def test_a_run_removes_only_expired_data(clean_retention: None, lake_settings: Any) -> None:
    lake = Lake(lake_settings)
    counts = await asyncio.to_thread(write_events, lake, lake_settings)
    between = await asyncio.to_thread(write_objects, lake)
    # Objects: keep 1 day, and run "a day after `between`": older objects are past it.
    await set_days({key: 1 for key in DEFAULT_DAYS if key[0] != "raw"})
    now = between + timedelta(days=1)

    run = await run_retention(get_engine(), lake, now=now)

    assert run["status"] == "done", run
    old_rows = sum(counts[d] for d in OLD_DAYS)
    assert run["rows_removed"] == old_rows
    by_policy = {(r["zone"], r["data_type"]): r for r in run["results"]}
    raw = by_policy[("raw", "events")]
    assert raw["rows"] == old_rows and raw["files"] == 4 and raw["bytes"] > 0
    assert raw["partitions"] == sorted(d.isoformat() for d in OLD_DAYS)
    # The young partitions are whole; the old ones are gone from the table and the store.
    assert delta_dates(lake) == {d: counts[d] for d in YOUNG_DAYS}
    files = [o.path for o in lake.list("raw/events") if "/_delta_log/" not in o.path]
    assert files and not any(f"event_date={d.isoformat()}" in f for f in files for d in OLD_DAYS)
    log = [o.path for o in lake.list("raw/events/_delta_log")]
    assert any(p.endswith(".checkpoint.parquet") for p in log)

    remaining = {o.path for o in lake.list("")}
    assert not remaining & set(OLD_OBJECTS)
    assert set(YOUNG_OBJECTS) <= remaining
    assert OLD_LATEST_MODEL in remaining
    assert by_policy[("models", "model-versions")]["files"] == 2
    # The Delta table under processed/ was not aged object by object.
    assert by_policy[("processed", "training-data")]["skipped_tables"] == [OLD_TABLE]
    table = lake.delta_table(OLD_TABLE)
    assert table is not None and table.to_pyarrow_table().num_rows == 3
    assert run["objects_removed"] == 4 + len(OLD_OBJECTS)  # Delta files + objects

    async with get_engine().connect() as conn:
        recorded = await retention_repository.run(conn, uuid.UUID(run["id"]))
        audited = (
            await conn.execute(
                text("SELECT action, subject, asset FROM common.audit_outbox ORDER BY id")
            )
        ).all()
    assert recorded is not None and recorded.status == "done"
    assert recorded.finished_at is not None and recorded.rows_removed == old_rows
    assert {a.action for a in audited} == {"Delete"} and {a.subject for a in audited} == {None}
    assert len(audited) == 5  # one per policy that removed something

    again = await run_retention(get_engine(), lake, now=now)  # idempotent: nothing left
    assert (again["status"], again["rows_removed"], again["objects_removed"]) == ("done", 0, 0)


async def test_a_failing_policy_is_recorded_and_the_others_still_run(
    clean_retention: None, lake_settings: Any
) -> None:
    lake = Lake(lake_settings)
    # raw/events exists but is not partitioned by the policy's column: that policy fails.
    write_deltalake(
        lake.uri("raw/events"),
        pa.table({"event_date": [OLD_DAYS[0]], "x": [1]}),
        storage_options=lake.storage_options,
    )
    lake.write_bytes("logs/x.log", b"x")
    await set_days({("logs", "logs"): 1})

    run = await run_retention(get_engine(), lake, now=datetime.now(UTC) + timedelta(days=2))

    assert run["status"] == "failed" and run["errors"] == 1
    failed = [r for r in run["results"] if "error" in r]
    assert [(r["zone"], r["data_type"]) for r in failed] == [("raw", "events")]
    assert not lake.exists("logs/x.log")


async def test_policies_are_editable_by_admins(
    clean_retention: None, admin: httpx.AsyncClient, auditor: httpx.AsyncClient
) -> None:
    listed = await admin.get("/v1/retention/policies")
    assert listed.status_code == 200
    policies = {(p["zone"], p["data_type"]): p for p in listed.json()["items"]}
    assert {k: p["retention_days"] for k, p in policies.items()} == DEFAULT_DAYS
    assert policies[("raw", "events")]["target"] == "raw/events"
    assert policies[("raw", "events")]["date_column"] == "event_date"
    assert policies[("models", "model-versions")]["keep_latest"] == 1

    changed = await admin.put("/v1/retention/policies/logs/logs", json={"retention_days": 30})
    assert changed.status_code == 200, changed.text
    assert changed.json()["retention_days"] == 30 and changed.json()["updated_by"] != "default"
    listed = await admin.get("/v1/retention/policies")
    assert {p["data_type"]: p["retention_days"] for p in listed.json()["items"]}["logs"] == 30

    bad = [
        ("/v1/retention/policies/logs/logs", {"retention_days": 0}, 422),
        ("/v1/retention/policies/logs/logs", {"retention_days": 3651}, 422),
        ("/v1/retention/policies/logs/logs", {"retention_days": "soon"}, 422),
        ("/v1/retention/policies/logs/logs", {"retention_days": 30, "extra": 1}, 422),
        ("/v1/retention/policies/logs/logs", {}, 422),
        ("/v1/retention/policies/Logs!/logs", {"retention_days": 30}, 422),
        ("/v1/retention/policies/logs/nothing", {"retention_days": 30}, 404),
    ]
    for path, body, status in bad:
        response = await admin.put(path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status
    not_json = await admin.put(
        "/v1/retention/policies/logs/logs",
        content=b"30",
        headers={"content-type": "text/plain"},
    )
    assert not_json.status_code == 422
    assert not_json.headers["content-type"] == "application/problem+json"

    forbidden = await auditor.put("/v1/retention/policies/logs/logs", json={"retention_days": 5})
    assert forbidden.status_code == 403
    assert (await auditor.get("/v1/retention/policies")).status_code == 403
    assert (await auditor.post("/v1/retention/run")).status_code == 403


async def test_run_now_queues_a_run_that_runs_once(
    clean_retention: None, admin: httpx.AsyncClient, redis_url: str, tmp_path: Path
) -> None:
    lake = Lake(_local_settings(tmp_path))
    lake.write_bytes("logs/old.log", b"old")
    await set_days({("logs", "logs"): 1})

    queued = await admin.post("/v1/retention/run")
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["id"]
    runs = (await admin.get("/v1/retention/runs")).json()["items"]
    assert runs[0]["id"] == run_id and runs[0]["status"] == "queued"

    run = await run_retention(
        get_engine(), lake, run_id=uuid.UUID(run_id), now=datetime.now(UTC) + timedelta(days=2)
    )
    assert run["status"] == "done" and run["objects_removed"] == 1
    async with get_engine().connect() as conn:
        deleted_by = (
            await conn.scalars(
                text("SELECT actor FROM common.audit_outbox WHERE action = 'Delete'")
            )
        ).all()
    assert deleted_by == [admin.headers["Authorization"].split("_")[1]]  # the admin's key id
    # The queued task (or a redelivery) finds the run done and does nothing.
    again = await run_retention(get_engine(), lake, run_id=uuid.UUID(run_id))
    assert again == {"id": run_id, "status": "done"}
    runs = (await admin.get("/v1/retention/runs", params={"limit": 1})).json()["items"]
    assert runs[0]["status"] == "done" and runs[0]["trigger"] == "manual"
    assert runs[0]["objects_removed"] == 1 and runs[0]["finished_at"] is not None
    assert (await admin.get("/v1/retention/runs", params={"limit": 0})).status_code == 422


def _local_settings(tmp_path: Path) -> Any:
    from services.compliance.config import ComplianceSettings

    return ComplianceSettings(lake_root=f"file://{tmp_path / 'lake'}")


@pytest.mark.integration
async def test_the_worker_runs_the_retention_task(
    clean_retention: None, redis_url: str, tmp_path: Path
) -> None:
    lake = Lake(_local_settings(tmp_path))
    lake.write_bytes("logs/old.log", b"old")
    lake.write_bytes("logs/new.log", b"new")
    past = time.time() - 3 * 86400
    os.utime(Path(lake.root) / "logs/old.log", (past, past))
    await set_days({("logs", "logs"): 1})
    os.environ["MINDLAKE_LAKE_ROOT"] = lake.root
    try:
        worker = start_worker(tmp_path / "worker.log")
    finally:
        del os.environ["MINDLAKE_LAKE_ROOT"]
    try:
        from libs.common.contracts import TaskName
        from services.compliance.worker import celery_app

        celery_app.send_task(TaskName.COMPLIANCE_RETENTION, expires=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with get_engine().connect() as conn:
                runs = await retention_repository.runs(conn, limit=1)
            if runs and runs[0].status in ("done", "failed"):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "worker.log").read_text()[-3000:])
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    assert runs[0].status == "done" and runs[0].trigger == "beat"
    assert runs[0].objects_removed == 1
    assert [o.path for o in lake.list("logs")] == ["logs/new.log"]
