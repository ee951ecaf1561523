"""Pull ingestion jobs: Postgres, file-drop and HTTP sources landing in raw/pulled/<job>,
exactly once across runs and a crash; errors, schedule, and the admin API."""

from __future__ import annotations

import http.server
import json
import os
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.crypto import is_encrypted
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.lake_crypto import PULLED_COLUMNS
from libs.common.subjects import subject_key
from services.ingest.config import IngestSettings
from services.ingest.pull import repository, runner
from services.ingest.pull.dispatch import claim_due_jobs
from services.ingest.pull.runner import run_pull
from services.ingest.pull.schedule import next_run
from services.ingest.pull.schemas import table_path
from tests.ingest.lake_scan import decrypted_rows, stored_rows

SOURCE_DSN = os.environ["MINDLAKE_DATABASE_URL"].replace("+asyncpg", "")
EVERY_MINUTE = {"interval_s": 60}


# --- fixtures and helpers ---------------------------------------------------------------------
async def make_key(scopes: list[str]) -> str:
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"pull-{uuid.uuid4().hex[:6]}", scopes=scopes, services=["*"]
        )
        await session.commit()
    return key


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Any]:
    import httpx

    from services.ingest.main import app

    key = await make_key([Scope.ADMIN])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://ingest",
            headers={"Authorization": f"Bearer {key}"},
        ) as http,
    ):
        yield http


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create(admin: Any, body: dict[str, Any]) -> dict[str, Any]:
    reply = await admin.post("/v1/pull-jobs", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def job_row(job_id: int) -> dict[str, Any]:
    async with get_engine().connect() as conn:
        row = await repository.load_job(conn, job_id)
    return dict(row)


async def sql(statement: str, **params: Any) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text(statement), params)


async def landed(settings: IngestSettings, name: str) -> list[dict[str, Any]]:
    """The job's rows as a reader sees them: records of known users decrypted."""
    return await decrypted_rows(Lake(settings), table_path(name), PULLED_COLUMNS)


async def records(settings: IngestSettings, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(r["record"]) for r in await landed(settings, name)]


async def source_table() -> str:
    name = f"moods_{uuid.uuid4().hex[:8]}"
    await sql("CREATE SCHEMA IF NOT EXISTS pull_source_test")
    await sql(
        f"CREATE TABLE pull_source_test.{name} (id bigint PRIMARY KEY, user_id text,"
        " note text, updated_at timestamptz NOT NULL)"
    )
    return name


async def insert_rows(table: str, ids: range, *, at: datetime) -> None:
    for i in ids:
        await sql(
            f"INSERT INTO pull_source_test.{table} VALUES (:id, :user, :note, :at)",
            id=i,
            user=f"user-{i % 3}",
            note=f"felt better today, write me at person{i}@example.com",
            at=at + timedelta(seconds=i // 2),  # pairs share a cursor value
        )


def postgres_job(table: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": unique("moods"),
        "source": {
            "kind": "postgres",
            "dsn": SOURCE_DSN,
            "table_schema": "pull_source_test",
            "table": table,
            "cursor_column": "updated_at",
        },
        "schedule": EVERY_MINUTE,
        "landing": {"subject_field": "user_id", "keep_fields": ["updated_at"]},
        **extra,
    }


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
    from services.ingest import quality

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


# --- HTTP source ----------------------------------------------------------------------------
@pytest.fixture
def json_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A tiny JSON API we own: GET /moods?since=N -> {"data": {"items": [id >= N]}}
    (inclusive, as many APIs are: the runner drops what it already has)."""
    items: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            if self.headers.get("X-Token") != "t0ken":
                self.send_response(401)
                self.end_headers()
                return
            since = int(query.get("since", ["0"])[0])
            body = json.dumps({"data": {"items": [i for i in items if i["id"] >= since]}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/moods", items
    server.shutdown()
    server.server_close()


async def test_http_job_lands_its_records_incrementally(
    admin: Any, lake_settings: IngestSettings, json_api: tuple[str, list[dict[str, Any]]]
) -> None:
    url, items = json_api
    items.extend({"id": i, "mood": "calm", "text": f"note {i}"} for i in range(1, 4))
    job = await create(
        admin,
        {
            "name": unique("api"),
            "source": {
                "kind": "http",
                "url": url,
                "headers": {"X-Token": "t0ken"},
                "records_path": "data.items",
                "cursor_param": "since",
                "cursor_field": "id",
            },
            "schedule": EVERY_MINUTE,
        },
    )
    assert job["source"]["headers"] == {"X-Token": "***"}
    lake = Lake(lake_settings)

    assert (await run_pull(job["id"], lake_settings, lake)).rows == 3
    assert (await run_pull(job["id"], lake_settings, lake)).state == "empty"
    items.append({"id": 4, "mood": "low", "text": "note 4"})
    assert (await run_pull(job["id"], lake_settings, lake)).rows == 1
    assert sorted(r["id"] for r in (await records(lake_settings, job["name"]))) == [1, 2, 3, 4]


# --- schedule -------------------------------------------------------------------------------
def test_next_run_for_interval_and_cron() -> None:
    at = datetime(2026, 11, 22, 10, 7, 30, tzinfo=UTC)
    assert next_run({"interval_s": 90}, at) == at + timedelta(seconds=90)
    assert next_run({"cron": "*/15 * * * *"}, at) == datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
    assert next_run({"cron": "0 3 * * *"}, at) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


async def test_pull_due_claims_due_active_jobs_and_advances_next_run(
    admin: Any, lake_settings: IngestSettings
) -> None:
    due = await create(admin, postgres_job("t", schedule={"interval_s": 600}))
    paused = await create(admin, postgres_job("t", status="paused"))
    await sql(
        "UPDATE ingest.pull_jobs SET next_run_at = now() - interval '1 minute'"
        " WHERE id IN (:a, :b)",
        a=due["id"],
        b=paused["id"],
    )
    claimed = await claim_due_jobs(lake_settings)
    assert due["id"] in claimed and paused["id"] not in claimed
    advanced = (await job_row(due["id"]))["next_run_at"]
    assert advanced > datetime.now(UTC) + timedelta(seconds=590)
    assert due["id"] not in await claim_due_jobs(lake_settings)  # not due any more


# --- API ------------------------------------------------------------------------------------
async def test_crud_and_run_now_endpoints(admin: Any) -> None:
    body = postgres_job("moods", name=unique("crud"))
    body["source"]["dsn"] = "postgresql://reader:s3cr3t-pw@db.internal:5432/app"
    job = await create(admin, body)
    assert "s3cr3t" not in json.dumps(job)
    assert job["source"]["dsn"] == "postgresql://***@db.internal:5432/app"
    assert job["table"] == f"raw/pulled/{body['name']}" and job["next_run_at"]

    clash = await admin.post("/v1/pull-jobs", json=body)
    assert clash.status_code == 409

    listed = (await admin.get("/v1/pull-jobs")).json()["jobs"]
    assert job["id"] in {j["id"] for j in listed}
    one = (await admin.get(f"/v1/pull-jobs/{job['id']}")).json()
    assert one["job"]["name"] == body["name"] and one["runs"] == []
    assert "s3cr3t" not in json.dumps(one)

    patched = await admin.patch(
        f"/v1/pull-jobs/{job['id']}",
        json={"schedule": {"cron": "0 * * * *"}, "status": "paused", "max_errors": 9},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["schedule"] == {"cron": "0 * * * *"}
    assert patched.json()["status"] == "paused" and patched.json()["max_errors"] == 9

    run = await admin.post(f"/v1/pull-jobs/{job['id']}/run")
    assert run.status_code == 202 and run.json()["task_id"]

    ingest_only = await make_key([Scope.INGEST_WRITE])
    denied = await admin.get("/v1/pull-jobs", headers={"Authorization": f"Bearer {ingest_only}"})
    assert denied.status_code == 403
    denied = await admin.post(
        f"/v1/pull-jobs/{job['id']}/run", headers={"Authorization": f"Bearer {ingest_only}"}
    )
    assert denied.status_code == 403

    assert (await admin.delete(f"/v1/pull-jobs/{job['id']}")).status_code == 204
    assert (await admin.get(f"/v1/pull-jobs/{job['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": {"table": 'moods"; DROP TABLE x; --'}}, "source.postgres.table"),
        ({"source": {"cursor_column": "1st"}}, "source.postgres.cursor_column"),
        ({"source": {"dsn": "mysql://x@y/z"}}, "source.postgres.dsn"),
        ({"name": "../etc"}, "name"),
        ({"schedule": {"cron": "every day"}}, "schedule"),
        ({"schedule": {"interval_s": 60, "cron": "* * * * *"}}, "schedule"),
        ({"source": {"kind": "ftp"}}, "source"),
    ],
)
async def test_bad_config_is_422_with_field_and_reason(
    admin: Any, change: dict[str, Any], field: str
) -> None:
    body = postgres_job("moods")
    for key, value in change.items():
        if isinstance(value, dict) and key == "source":
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    reply = await admin.post("/v1/pull-jobs", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    errors = reply.json()["errors"]
    assert any(e["field"].startswith(field) and e["reason"] for e in errors), errors


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
