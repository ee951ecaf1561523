"""Retention of the other raw Delta tables: every tenant CSV table and every pulled table is
aged by its date (under its writers' lock), tables without a date are skipped and reported,
and the two policies are editable like the others (local lake and over the S3 API)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_locks import release_pull_job_lock, take_pull_job_lock
from libs.common.subjects import subject_key
from services.compliance.config import ComplianceSettings
from services.compliance.retention.service import run_retention
from services.ingest.csv_upload import tables
from services.ingest.csv_upload.repository import lock_table
from services.ingest.pull.table import SCHEMA as PULLED
from services.ingest.pull.table import PulledTable
from tests.compliance.test_retention import (
    OLD_DAYS,
    YOUNG_DAYS,
    clean_retention,  # noqa: F401  (a fixture)
)

pytestmark = pytest.mark.usefixtures("clean_retention")
TENANTS = ("acme", "globex")
USERS = [f"tenant-user-{i}" for i in range(4)]


def interactions(tenant: str, settings: Any) -> tuple[pa.Table, dict[date, int]]:
    """Rows on every old and young day (n + i of them on the i-th day)."""
    rows: dict[str, list[Any]] = {name: [] for name in tables.INTERACTIONS.names}
    counts: dict[date, int] = {}
    for i, day in enumerate(OLD_DAYS + YOUNG_DAYS):
        at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
        counts[day] = 3 + i
        for j in range(3 + i):
            user = USERS[j % len(USERS)]
            rows["row_key"].append(uuid.uuid4().hex)
            rows["user_id"].append(user)
            rows["subject_key"].append(subject_key(user, settings))
            rows["item_id"].append(f"item-{j}")
            rows["interaction_type"].append("view")
            rows["event_time"].append(at)
            rows["event_date"].append(day)
            rows["rating"].append(None)
            rows["upload_id"].append(f"up-{tenant}")
            rows["landed_at"].append(datetime.now(UTC))
    return pa.Table.from_pydict(rows, schema=tables.INTERACTIONS), counts


def items() -> pa.Table:
    old = datetime.combine(OLD_DAYS[0], datetime.min.time(), tzinfo=UTC)
    return pa.table(
        {
            "row_key": ["k1", "k2"],
            "item_id": ["item-1", "item-2"],
            "category": ["course", "course"],
            "title": ["Sleep better", "Calm"],
            "price": [9.0, 4.0],
            "created_at": [old, old],  # old, but a catalogue is not aged
            "content_hash": ["h1", "h2"],
            "upload_id": ["up-items", "up-items"],
            "landed_at": [old, old],
        }
    )


def pulled(days: list[date], settings: Any) -> pa.Table:
    """One record per day, pulled (landed) at 08:00 UTC that day."""
    at = [datetime.combine(d, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8) for d in days]
    return pa.Table.from_pydict(
        {
            "record": ['{"score": 3}'] * len(days),
            "subject_key": [subject_key(USERS[i % 4], settings) for i in range(len(days))],
            "pulled_at": at,
            "run_id": [uuid.uuid4().hex] * len(days),
            "source_position": [str(i) for i in range(len(days))],
            "pii_findings": [0] * len(days),
        },
        schema=PULLED,
    )


def write_tables(lake: Lake, settings: Any, jobs: tuple[str, str]) -> dict[str, dict[date, int]]:
    """Two tenants' interactions and one's items; two pulled tables: `jobs[0]` one commit per
    run (old runs, then young ones), `jobs[1]` one file holding old and young records."""
    counts = {}
    for tenant in TENANTS:
        rows, counts[tables.table_path(tenant, "interactions")] = interactions(tenant, settings)
        tables.merge_rows(lake, tenant, "interactions", rows, f"up-{tenant}")
    tables.merge_rows(lake, "acme", "items", items(), "up-items")
    runs = PulledTable(lake, jobs[0])
    for day in OLD_DAYS + YOUNG_DAYS:
        runs.append(pulled([day, day], settings), run_id=uuid.uuid4().hex, cursor=None, files=[])
    counts[runs.path] = {d: 2 for d in OLD_DAYS + YOUNG_DAYS}
    mixed = PulledTable(lake, jobs[1])
    days = list(OLD_DAYS + YOUNG_DAYS)
    mixed.append(pulled(days, settings), run_id=uuid.uuid4().hex, cursor=None, files=[])
    counts[mixed.path] = dict.fromkeys(days, 1)
    return counts


def days_in(lake: Lake, path: str, column: str) -> dict[date, int]:
    table = lake.delta_table(path)
    assert table is not None
    values = table.to_pyarrow_table(columns=[column]).column(column).to_pylist()
    found = [v.date() if isinstance(v, datetime) else v for v in values]
    return {d: found.count(d) for d in set(found)}


def version(lake: Lake, path: str) -> int:
    table = lake.delta_table(path)
    assert table is not None
    return int(table.version())


def log_text(lake: Lake, prefix: str) -> str:
    """Everything the tables' logs say: JSON commits and checkpoints, decoded."""
    texts = []
    for obj in lake.list(prefix):
        if "/_delta_log/" not in obj.path:
            continue
        data = lake.read_bytes(obj.path)
        if obj.path.endswith(".parquet"):
            texts.append(str(pq.read_table(io.BytesIO(data)).to_pylist()))
        else:
            texts.append(data.decode())
    return "\n".join(texts)


@pytest.fixture
async def pull_job(database: str) -> AsyncIterator[tuple[int, str]]:
    """A pull job whose table retention ages under the job's run lock."""
    name = f"moods-{uuid.uuid4().hex[:8]}"
    async with get_engine().begin() as conn:
        job_id = await conn.scalar(
            text(
                "INSERT INTO ingest.pull_jobs (name, kind, source, schedule, landing, status,"
                " max_errors) VALUES (:n, 'http', '{}', '{}', '{}', 'active', 3) RETURNING id"
            ),
            {"n": name},
        )
    yield int(job_id), name
    async with get_engine().begin() as conn:
        await conn.execute(text("DELETE FROM ingest.pull_jobs WHERE id = :i"), {"i": job_id})


async def test_a_run_ages_every_tenant_and_pulled_table(
    lake_settings: Any, pull_job: tuple[int, str]
) -> None:
    lake = Lake(lake_settings)
    deleted_job = f"gone-{uuid.uuid4().hex[:8]}"  # its job was deleted: the table stays
    jobs = (pull_job[1], deleted_job)
    counts = await asyncio.to_thread(write_tables, lake, lake_settings, jobs)

    run = await run_retention(get_engine(), lake)

    assert run["status"] == "done", run
    by_policy = {(r["zone"], r["data_type"]): r for r in run["results"]}
    tenant_tables = [tables.table_path(t, "interactions") for t in TENANTS]
    pulled_tables = [f"raw/pulled/{j}" for j in sorted(jobs)]
    old_rows = {path: sum(counts[path][d] for d in OLD_DAYS) for path in counts}
    tenant = by_policy[("raw", "tenant-interactions")]
    assert tenant["cutoff"] == (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    assert tenant["rows"] == sum(old_rows[p] for p in tenant_tables)
    assert tenant["partitions"] == sorted(d.isoformat() for d in OLD_DAYS)
    assert tenant["purged_tables"] == tenant_tables and tenant["bytes"] > 0
    # The items table (a catalogue: no date partition) is skipped, reported and untouched.
    assert tenant["skipped_tables"] == ["raw/tenants/acme/items"]
    assert "no date partition" in tenant["skip_reasons"]["raw/tenants/acme/items"]
    items_table = lake.delta_table("raw/tenants/acme/items")
    assert items_table is not None and items_table.to_pyarrow_table().num_rows == 2
    assert items_table.version() == 0
    pulled_result = by_policy[("raw", "pulled")]
    assert pulled_result["rows"] == sum(old_rows[p] for p in pulled_tables)
    assert pulled_result["purged_tables"] == pulled_tables
    assert pulled_result["skipped_tables"] == [] and pulled_result["bytes"] > 0
    assert run["rows_removed"] == tenant["rows"] + pulled_result["rows"]

    for path, column in [(p, "event_date") for p in tenant_tables] + [
        (p, "pulled_at") for p in pulled_tables
    ]:
        # Younger rows are all kept, older ones gone from the table and from the store.
        assert days_in(lake, path, column) == {d: counts[path][d] for d in YOUNG_DAYS}, path
        table = lake.delta_table(path)
        assert table is not None
        stored = {o.path[len(path) + 1 :] for o in lake.list(path) if "/_delta_log/" not in o.path}
        live = pa.table(table.get_add_actions(flatten=True)).column("path").to_pylist()
        assert stored == set(live), path  # vacuumed: no file of an older version is left
        assert any(o.path.endswith(".checkpoint.parquet") for o in lake.list(f"{path}/_delta_log"))
    # Only dates entered the logs: no user id, no keyed hash (the predicates, the rewritten
    # file of the mixed pulled table and its statistics name none).
    logs = log_text(lake, "raw")
    for user in USERS:
        assert user not in logs and subject_key(user, lake_settings) not in logs

    async with get_engine().connect() as conn:
        assets = (
            await conn.scalars(text("SELECT asset FROM common.audit_outbox ORDER BY id"))
        ).all()
    assert sorted(assets) == ["raw/pulled/ (retention 365 d)", "raw/tenants/ (retention 365 d)"]

    versions = {p: version(lake, p) for p in tenant_tables + pulled_tables}
    again = await run_retention(get_engine(), lake)  # idempotent: nothing left, no commit
    assert (again["status"], again["rows_removed"], again["objects_removed"]) == ("done", 0, 0)
    assert {p: version(lake, p) for p in versions} == versions


WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def until(task: asyncio.Task[Any], done: Any) -> None:
    """Poll `done()` (async) until true; the run must not have ended meanwhile."""
    for _ in range(300):
        if await done():
            return
        assert not task.done(), task.result()
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def waiting_for_a_lock() -> bool:
    async with get_engine().connect() as conn:
        return bool(await conn.scalar(WAITING))


async def test_the_purge_waits_for_the_tables_writers(
    tmp_path: Any, pull_job: tuple[int, str]
) -> None:
    settings = ComplianceSettings(lake_root=f"file://{tmp_path / 'lake'}")
    lake = Lake(settings)
    job_id, name = pull_job

    async def pulled_purged() -> bool:
        return days_in(lake, pulled_path, "pulled_at").keys() == set(YOUNG_DAYS)

    await asyncio.to_thread(write_tables, lake, settings, (name, "other-job"))
    odd = "raw/tenants/acme/archive/2024"  # not a CSV upload's table: whose lock is unknown
    write_deltalake(
        lake.uri(odd),
        pa.table({"event_date": [OLD_DAYS[0]], "n": [1]}),
        partition_by=["event_date"],
    )
    pulled_path, tenant_path = f"raw/pulled/{name}", tables.table_path("acme", "interactions")
    async with get_engine().connect() as puller, get_engine().connect() as uploader:
        assert await take_pull_job_lock(puller, job_id)  # a pull run of the job
        await puller.commit()
        await lock_table(uploader, "acme", "interactions")  # a CSV upload, until its commit

        run = asyncio.create_task(run_retention(get_engine(), lake))
        # Policies go in order (raw/pulled, then raw/tenant-interactions): the pull's lock first.
        await until(run, waiting_for_a_lock)
        await asyncio.sleep(0.3)
        assert days_in(lake, pulled_path, "pulled_at").keys() == set(OLD_DAYS + YOUNG_DAYS)
        await release_pull_job_lock(puller, job_id)
        await puller.commit()
        await until(run, pulled_purged)
        await until(run, waiting_for_a_lock)  # now the upload's
        await asyncio.sleep(0.3)
        assert days_in(lake, tenant_path, "event_date").keys() == set(OLD_DAYS + YOUNG_DAYS)
        await uploader.commit()

        result = await asyncio.wait_for(run, 60)
    assert result["status"] == "done", result
    assert days_in(lake, tenant_path, "event_date").keys() == set(YOUNG_DAYS)
    tenant = next(r for r in result["results"] if r["data_type"] == "tenant-interactions")
    assert tenant["skipped_tables"] == [odd, "raw/tenants/acme/items"]
    assert "no known writer lock" in tenant["skip_reasons"][odd]
    assert days_in(lake, odd, "event_date").keys() == {OLD_DAYS[0]}  # left alone


async def test_the_raw_table_policies_are_editable(admin: httpx.AsyncClient, tmp_path: Any) -> None:
    listed = (await admin.get("/v1/retention/policies")).json()["items"]
    policies = {(p["zone"], p["data_type"]): p for p in listed}
    tenant, pulled_policy = policies[("raw", "tenant-interactions")], policies[("raw", "pulled")]
    assert (tenant["target_kind"], tenant["target"], tenant["date_column"]) == (
        "delta_tables",
        "raw/tenants/",
        None,  # each table's own date partition, from its metadata
    )
    assert (pulled_policy["target_kind"], pulled_policy["target"]) == (
        "delta_tables",
        "raw/pulled/",
    )
    assert pulled_policy["date_column"] == "pulled_at" and pulled_policy["retention_days"] == 365

    for data_type in ("tenant-interactions", "pulled"):
        changed = await admin.put(
            f"/v1/retention/policies/raw/{data_type}", json={"retention_days": 30}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["retention_days"] == 30 and changed.json()["updated_by"] != "default"
    listed = (await admin.get("/v1/retention/policies")).json()["items"]
    assert {p["data_type"]: p["retention_days"] for p in listed if p["zone"] == "raw"} == {
        "events": 365,
        "pulled": 30,
        "quarantine": 90,
        "tenant-interactions": 30,
    }

    # The next run applies it: with 30 days, the young day 300 days ago goes too.
    settings = ComplianceSettings(lake_root=f"file://{tmp_path / 'lake'}")
    lake = Lake(settings)
    await asyncio.to_thread(write_tables, lake, settings, ("a-job", "b-job"))
    run = await run_retention(get_engine(), lake)
    assert run["status"] == "done", run
    today = datetime.now(UTC).date()
    assert days_in(lake, tables.table_path("acme", "interactions"), "event_date").keys() == {today}
    assert days_in(lake, "raw/pulled/a-job", "pulled_at").keys() == {today}
