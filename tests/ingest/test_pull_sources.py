"""Pull jobs landing in raw/pulled/<job>: Postgres, file-drop and HTTP sources, exactly once
across runs and a crash; errors; a run through a real worker."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from libs.common.crypto import is_encrypted
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.subjects import subject_key
from services.ingest.config import IngestSettings
from services.ingest.pull import runner
from services.ingest.pull.runner import run_pull
from services.ingest.pull.schemas import table_path
from tests.ingest import pull_support
from tests.ingest.lake_scan import stored_rows
from tests.ingest.pull_support import (
    EVERY_MINUTE,
    JsonApi,
    create,
    http_job,
    insert_rows,
    job_row,
    landed,
    postgres_job,
    private_ok,
    records,
    source_table,
    sql,
    unique,
)

# fixtures pytest finds in this module's namespace
admin = pull_support.admin
api_settings = pull_support.api_settings
json_api = pull_support.json_api


# --- Postgres source ------------------------------------------------------------------------
async def test_postgres_job_lands_new_rows_exactly_once(
    admin: Any, lake_settings: IngestSettings
) -> None:
    settings = lake_settings.model_copy(update={"ingest_pull_max_rows_per_run": 7})
    table = await source_table()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    await insert_rows(table, range(10), at=start)
    job = await create(admin, postgres_job(table))
    lake = Lake(settings)

    first = await run_pull(job["id"], settings, lake, trigger="manual")
    assert first.state == "landed"
    # 7 a run at most, but a page never splits rows sharing a cursor value: 8 (pairs)
    assert first.rows == 8
    second = await run_pull(job["id"], settings, lake, trigger="manual")
    assert second.rows == 2
    await insert_rows(table, range(10, 15), at=start)
    third = await run_pull(job["id"], settings, lake, trigger="manual")
    assert third.rows == 5
    fourth = await run_pull(job["id"], settings, lake, trigger="manual")
    assert fourth.state == "empty"

    rows = await records(settings, job["name"])
    assert sorted(r["id"] for r in rows) == list(range(15))
    assert not any("@example.com" in r["note"] for r in rows)  # free text scrubbed
    assert all(not r["user_id"].startswith("user-") for r in rows)  # subject hashed
    lake_rows = await landed(settings, job["name"])
    assert {r["subject_key"] for r in lake_rows} == {r["user_id"] for r in rows}
    assert all(r["pii_findings"] >= 1 for r in lake_rows)
    stored = stored_rows(lake, table_path(job["name"]))
    assert all(is_encrypted(r["record"]) for r in stored)  # a known user's: sealed with their key
    assert (await job_row(job["id"]))["cursor"]["t"] == "datetime"
    from services.ingest.quality import service as quality

    async with get_engine().connect() as conn:
        figures = {(f.source, f.data_type): f for f in await quality.report(conn)}
    assert figures[(job["name"], "pull")].accepted == 15  # the quality report counts runs


async def test_records_of_an_erased_user_are_not_pulled(
    admin: Any, lake_settings: IngestSettings
) -> None:
    table = await source_table()
    gone, kept = f"gone-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    for i, user in enumerate([gone, kept, gone, kept]):
        await sql(
            f"INSERT INTO pull_source_test.{table} VALUES (:id, :user, 'a note', :at)",
            id=i,
            user=user,
            at=datetime(2026, 11, 1, tzinfo=UTC),
        )
    await sql(
        "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
        " VALUES (:s, :r, now())",
        s=subject_key(gone, lake_settings),
        r=str(uuid.uuid4()),
    )
    job = await create(admin, postgres_job(table))
    assert (await run_pull(job["id"], lake_settings, Lake(lake_settings))).state == "landed"
    rows = await records(lake_settings, job["name"])
    assert sorted(r["id"] for r in rows) == [1, 3]
    assert {r["user_id"] for r in rows} == {subject_key(kept, lake_settings)}


async def test_crash_between_lake_commit_and_postgres_update_duplicates_nothing(
    admin: Any, lake_settings: IngestSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = await source_table()
    start = datetime(2026, 11, 2, tzinfo=UTC)
    await insert_rows(table, range(6), at=start)
    job = await create(admin, postgres_job(table))
    lake = Lake(lake_settings)

    class Crash(Exception):
        pass

    async def crash(*_: Any, **__: Any) -> None:
        raise Crash  # the worker dies after the Delta commit, before Postgres learns of it

    monkeypatch.setattr(runner.repository, "record_landed", crash)
    with pytest.raises(Crash):
        await run_pull(job["id"], lake_settings, lake)
    monkeypatch.undo()
    assert len(await landed(lake_settings, job["name"])) == 6
    assert (await job_row(job["id"]))["cursor"] is None  # Postgres's copy is behind

    again = await run_pull(job["id"], lake_settings, lake)
    assert again.recovered and again.state == "empty"
    await insert_rows(table, range(6, 9), at=start)
    assert (await run_pull(job["id"], lake_settings, lake)).rows == 3

    ids = [r["id"] for r in (await records(lake_settings, job["name"]))]
    assert sorted(ids) == list(range(9))
    async with get_engine().connect() as conn:
        states = (
            await conn.execute(
                text("SELECT state FROM ingest.pull_runs WHERE job_id = :j"), {"j": job["id"]}
            )
        ).scalars()
        assert "running" not in set(states)  # the crashed run was marked landed on recovery


async def test_failing_source_counts_errors_and_pauses_at_max_errors(
    admin: Any, tmp_path: Path
) -> None:
    settings = IngestSettings(lake_root=f"file://{tmp_path / 'lake'}", ingest_pull_timeout_s=2)
    body = postgres_job("nothing", max_errors=2)
    body["source"]["dsn"] = "postgresql://nobody:hunter2secret@127.0.0.1:1/nowhere"
    job = await create(admin, body)
    lake = Lake(settings)

    first = await run_pull(job["id"], settings, lake)
    assert first.state == "failed" and "connect" in (first.reason or "")
    row = await job_row(job["id"])
    assert (row["error_count"], row["status"]) == (1, "active")
    await run_pull(job["id"], settings, lake)
    row = await job_row(job["id"])
    assert (row["error_count"], row["status"]) == (2, "failed")
    assert "hunter2" not in (row["last_error"] or "")
    assert (await run_pull(job["id"], settings, lake)).state == "skipped"  # not scheduled

    resumed = await admin.patch(f"/v1/pull-jobs/{job['id']}", json={"status": "active"})
    assert resumed.json()["status"] == "active" and resumed.json()["error_count"] == 0


# --- file drop ------------------------------------------------------------------------------
def drop_files(lake: Lake, prefix: str, names: list[str]) -> None:
    for name in names:
        if name.endswith(".jsonl"):
            data = b'{"score": 3, "note": "ok"}\n{"score": 4, "note": "call 555-123-4567"}\n'
        elif name.endswith(".json"):
            data = orjson.dumps([{"score": 5}, {"score": 6}, {"score": 7}])
        else:
            data = b"score,note\n1,fine\n"
        lake.write_bytes(f"{prefix}/{name}", data)


async def test_file_drop_takes_each_file_once(admin: Any, lake_settings: IngestSettings) -> None:
    lake = Lake(lake_settings)
    prefix = f"incoming/{uuid.uuid4().hex[:8]}"
    drop_files(lake, prefix, ["batch-1.jsonl", "batch-2.json", "batch-3.csv"])
    lake.write_bytes(f"{prefix}/README.md", b"not a batch")
    job = await create(
        admin,
        {
            "name": unique("drop"),
            "source": {"kind": "file_drop", "path": prefix, "pattern": "batch-*"},
            "schedule": {"cron": "*/5 * * * *"},
        },
    )

    first = await run_pull(job["id"], lake_settings, lake)
    assert (first.state, first.files, first.rows) == ("landed", 3, 6)
    drop_files(lake, prefix, ["batch-4.jsonl"])
    second = await run_pull(job["id"], lake_settings, lake)
    assert (second.files, second.rows) == (1, 2)
    assert (await run_pull(job["id"], lake_settings, lake)).state == "empty"

    rows = await landed(lake_settings, job["name"])
    assert len(rows) == 8
    assert sorted(r["source_position"] for r in rows)[0] == "batch-1.jsonl:1"
    assert not any("555-123-4567" in r["record"] for r in rows)


async def test_file_drop_local_folder_only_under_allowed_roots(admin: Any, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.jsonl").write_bytes(b'{"score": 1}\n')
    lake_root = f"file://{tmp_path / 'lake'}"
    body = {
        "name": unique("local"),
        "source": {"kind": "file_drop", "location": "local", "path": str(drop), "pattern": "*"},
        "schedule": EVERY_MINUTE,
    }
    job = await create(admin, body)
    refused = IngestSettings(lake_root=lake_root)
    assert (await run_pull(job["id"], refused, Lake(refused))).state == "failed"
    allowed = IngestSettings(lake_root=lake_root, ingest_pull_local_roots=str(tmp_path))
    report = await run_pull(job["id"], allowed, Lake(allowed))
    assert (report.state, report.rows) == ("landed", 1)


async def test_http_job_lands_its_records_incrementally(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    settings = private_ok(lake_settings)
    json_api.items.extend({"id": i, "mood": "calm", "text": f"note {i}"} for i in range(1, 4))
    job = await create(admin, http_job(json_api.url))
    assert job["source"]["headers"] == {"X-Token": "***"}
    lake = Lake(settings)

    # the server answers 401 without the header: the run sends the decrypted token
    assert (await run_pull(job["id"], settings, lake)).rows == 3
    assert (await run_pull(job["id"], settings, lake)).state == "empty"
    json_api.items.append({"id": 4, "mood": "low", "text": "note 4"})
    assert (await run_pull(job["id"], settings, lake)).rows == 1
    assert sorted(r["id"] for r in (await records(settings, job["name"]))) == [1, 2, 3, 4]


# --- a real worker --------------------------------------------------------------------------
@pytest.mark.integration
async def test_run_now_through_a_real_worker(admin: Any, tmp_path: Path) -> None:
    from tests.integration.test_worker import start_worker, wait_for

    settings = IngestSettings(lake_root=f"file://{tmp_path / 'lake'}")
    table = await source_table()
    await insert_rows(table, range(4), at=datetime(2026, 11, 3, tzinfo=UTC))
    job = await create(admin, postgres_job(table))
    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path)
    try:
        assert (await admin.post(f"/v1/pull-jobs/{job['id']}/run")).status_code == 202
        await wait_for(
            f"SELECT count(*) FROM ingest.pull_runs WHERE job_id = {job['id']}"
            " AND state = 'landed' AND rows = 4",
            within_s=90,
            worker_log=log_path,
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert sorted(r["id"] for r in (await records(settings, job["name"]))) == [0, 1, 2, 3]
