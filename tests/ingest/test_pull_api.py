"""The pull-job admin API and schedule: CRUD and run now, config validation (422), due
jobs claimed by beat."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from libs.common.auth import Scope
from services.ingest.config import IngestSettings
from services.ingest.pull.dispatch import claim_due_jobs
from services.ingest.pull.schedule import next_run
from tests.ingest import pull_support
from tests.ingest.pull_support import (
    create,
    http_job,
    job_row,
    make_key,
    postgres_job,
    sql,
    unique,
)

# fixtures pytest finds in this module's namespace
admin = pull_support.admin
api_settings = pull_support.api_settings


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"url": "http://127.0.0.1/\x00x"}, "source.http.url"),
        ({"params": {"q": "a\x00"}}, "source.http.params"),
        ({"headers": {"X-Token": "a\r\nX-Evil: 1"}}, "source.http.headers"),
        ({"headers": {"Bad Name": "v"}}, "source.http.headers"),
        ({"records_path": "a\x00"}, "source.http.records_path"),
        ({"url": "http://127.0.0.1:99999/x"}, "source.http.url"),
    ],
)
async def test_bad_http_source_is_422_not_500(
    admin: Any, api_settings: dict[str, Any], source: dict[str, Any], field: str
) -> None:
    body = http_job("http://127.0.0.1:1/moods")
    body["source"].update(source)
    reply = await admin.post("/v1/pull-jobs", json=body)
    assert reply.status_code == 422, reply.text
    assert any(e["field"].startswith(field) for e in reply.json()["errors"]), reply.text


async def test_ids_beyond_bigint_are_422(admin: Any) -> None:
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/run")):
        reply = await admin.request(method, f"/v1/pull-jobs/{2**63}{path}", json={})
        assert reply.status_code == 422, (method, reply.text)


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
