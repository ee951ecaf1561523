"""Pull-job secrets at rest: sealed in Postgres, redacted in replies, sealed by the
migration for jobs stored before."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import text

from libs.common.crypto import make_provider
from libs.common.db import get_engine
from libs.common.lake import Lake
from services.ingest.config import IngestSettings
from services.ingest.pull.runner import run_pull
from tests.ingest import pull_support
from tests.ingest.pull_support import (
    JsonApi,
    create,
    http_job,
    job_row,
    postgres_job,
    private_ok,
    stored_job_text,
    unique,
)

# fixtures pytest finds in this module's namespace
admin = pull_support.admin
api_settings = pull_support.api_settings
json_api = pull_support.json_api


# --- secrets at rest ----------------------------------------------------------------------------
async def test_stored_row_holds_no_clear_secret_and_replies_are_redacted(
    admin: Any, api_settings: dict[str, Any], json_api: JsonApi
) -> None:
    body = postgres_job("moods")
    body["source"]["dsn"] = "postgresql://reader:s3cr3t-pw@db.internal:5432/app?password=pw2x"
    pg = await create(admin, body)
    api = await create(admin, http_job(json_api.url))
    for job, secret in ((pg, "s3cr3t-pw"), (pg, "pw2x"), (api, "t0ken")):
        row, wrapped, sealed = await stored_job_text(job["id"])
        assert secret not in row and secret.encode().hex() not in row
        assert secret.encode() not in sealed and secret.encode() not in wrapped
        assert len(wrapped) > 32 and len(sealed) > len(secret)
        assert secret not in json.dumps(job)
    assert pg["source"]["dsn"] == "postgresql://***@db.internal:5432/app"
    assert api["source"]["headers"] == {"X-Token": "***"}

    listed = (await admin.get("/v1/pull-jobs")).text
    one = (await admin.get(f"/v1/pull-jobs/{api['id']}")).text
    patched = await admin.patch(
        f"/v1/pull-jobs/{api['id']}",
        json={"source": {**http_job(json_api.url)["source"], "headers": {"X-Token": "n3w-t0k"}}},
    )
    assert patched.status_code == 200, patched.text
    for reply in (listed, one, patched.text):
        assert "t0ken" not in reply and "n3w-t0k" not in reply and "s3cr3t" not in reply
    row, _, sealed = await stored_job_text(api["id"])
    assert "n3w-t0k" not in row and b"n3w-t0k" not in sealed


async def test_secrets_sealed_under_another_master_key_fail_the_run_cleanly(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    job = await create(admin, http_job(json_api.url))
    other = private_ok(lake_settings).model_copy(
        update={"master_key": SecretStr(base64.b64encode(b"k" * 32).decode())}
    )
    report = await run_pull(job["id"], other, Lake(other))
    assert report.state == "failed" and "cannot be decrypted" in (report.reason or "")
    assert json_api.hits == []


async def test_the_migration_seals_clear_secrets_of_existing_jobs(
    lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    """A job stored by the old code (secrets in clear in `source`) is sealed by ingest_0009's
    data step and then runs with the same runtime code as a new one."""
    settings = private_ok(lake_settings)
    json_api.items.extend({"id": i} for i in (1, 2))
    source = {**http_job(json_api.url)["source"], "params": {}}
    async with get_engine().begin() as conn:
        job_id = await conn.scalar(
            text(
                "INSERT INTO ingest.pull_jobs (name, kind, source, schedule, landing, status,"
                " max_errors) VALUES (:n, 'http', CAST(:s AS jsonb), '{\"interval_s\": 60}',"
                " '{\"subject_field\": null, \"keep_fields\": []}', 'active', 3) RETURNING id"
            ),
            {"n": unique("legacy"), "s": json.dumps(source)},
        )
        migration = load_migration("2026_11_24-pull_job_secrets.py")
        provider = make_provider(settings)
        sealed = await conn.run_sync(lambda sync: migration.seal_rows(sync, provider))
    assert sealed >= 1
    row, _, _ = await stored_job_text(int(job_id))
    assert "t0ken" not in row
    assert (await job_row(int(job_id)))["source"]["headers"] == {"X-Token": "***"}
    assert (await run_pull(int(job_id), settings, Lake(settings))).rows == 2  # 401 without it


def load_migration(file_name: str) -> Any:
    path = Path(__file__).parents[2] / "services/ingest/migrations/versions" / file_name
    spec = importlib.util.spec_from_file_location("pull_job_secrets_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
