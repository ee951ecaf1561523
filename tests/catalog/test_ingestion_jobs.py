"""GraphQL's ingestion jobs are ingest's pull jobs, reached through ingest's real API (a uvicorn
server on a free port, the test's database and lake): create, read, list, update and run,
with the caller's own key; ingest's refusals come back as GraphQL errors with its reason."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from libs.common.auth import Scope
from libs.common.lake_tables import pulled_table
from services.catalog.assets.service import asset_id
from services.catalog.config import CatalogSettings
from tests.catalog.support import ingest_server, key
from tests.catalog.test_graphql import gql, messages
from tests.conftest import _free_port
from tests.integration.services import lake_env

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("lake_settings", ["local"],
                                                                 indirect=True)]  # fmt: skip
CREATE = """mutation($input: CreateIngestionJobInput!) { createIngestionJob(input: $input) {
  id name status targetAssetId maxErrors errorCount schedule source } }"""
SOURCE = {"kind": "file_drop", "path": "drops/partner", "pattern": "*.jsonl"}


@pytest.fixture
def ingest_api(
    lake_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    from services.catalog.config import get_catalog_settings

    with ingest_server(lake_env(lake_settings), tmp_path / "ingest-api.log") as base:
        monkeypatch.setenv("MINDLAKE_CATALOG_INGEST_URL", base)
        get_catalog_settings.cache_clear()
        try:
            yield base
        finally:
            get_catalog_settings.cache_clear()


async def test_ingestion_jobs_through_ingests_api(
    catalog_env: CatalogSettings, ingest_api: str
) -> None:
    admin = await key(Scope.ADMIN)
    name = f"partner_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    job = {"name": name, "source": SOURCE, "schedule": {"interval_s": 3600}, "maxErrors": 3}
    made = await gql(admin, CREATE, input=job)
    assert "errors" not in made, made
    created = made["data"]["createIngestionJob"]
    assert created["name"] == name and created["status"] == "active"
    assert created["targetAssetId"] == str(asset_id(pulled_table(name)))
    assert (created["maxErrors"], created["errorCount"]) == (3, 0)
    assert created["source"]["path"] == "drops/partner"
    job_id = created["id"]

    one = await gql(admin, "query($id: ID!) { getIngestionJob(id: $id) { name schedule } }",
                    id=job_id)  # fmt: skip
    assert one["data"]["getIngestionJob"] == {"name": name, "schedule": {"interval_s": 3600}}
    listed = await gql(admin, '{ listIngestionJobs(status: "active") { id } }')
    assert {"id": job_id} in listed["data"]["listIngestionJobs"]
    changed = await gql(admin, """mutation($id: ID!, $input: UpdateIngestionJobInput!) {
      updateIngestionJob(id: $id, input: $input) { status maxErrors } }""",
                        id=job_id, input={"status": "paused", "maxErrors": 7})  # fmt: skip
    assert changed["data"]["updateIngestionJob"] == {"status": "paused", "maxErrors": 7}
    run = "mutation($id: ID!) { runIngestionJob(id: $id) { jobId taskId status } }"
    ran = await gql(admin, run, id=job_id)
    assert ran["data"]["runIngestionJob"]["jobId"] == job_id
    assert ran["data"]["runIngestionJob"]["taskId"]
    missing = await gql(admin, '{ getIngestionJob(id: "999999999") { name } }')
    assert missing == {"data": {"getIngestionJob": None}}


async def test_refusals_are_graphql_errors(catalog_env: CatalogSettings, ingest_api: str) -> None:
    admin = await key(Scope.ADMIN)
    cases = [
        ({"name": "x_1", "source": {"kind": "ftp"}, "schedule": {"interval_s": 60}},
         "ingest refused it"),
        ({"name": "x_2", "source": SOURCE, "schedule": {"interval_s": 60},
          "transformationLogic": "fn main() {}"}, "transformationLogic is not supported"),
        ({"name": "x_3", "source": SOURCE, "schedule": {"interval_s": 60},
          "targetAssetId": "00000000-0000-0000-0000-000000000000"}, "target is its table"),
        ({"name": "bad name ünï\\u0000", "source": SOURCE, "schedule": {"cron": "nope"}},
         "ingest refused it"),
    ]  # fmt: skip
    for job, expected in cases:
        body = await gql(admin, CREATE, input=job)
        assert expected in messages(body), (job, body)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    for bad_id in ("abc", "-1", "99999999999999999999999", "١٢"):
        body = await gql(admin, "query($id: ID!) { getIngestionJob(id: $id) { name } }", id=bad_id)
        assert "positive integer" in messages(body), (bad_id, body)
    # A catalog writer without admin: ingest itself refuses it.
    writer = await key(Scope.CATALOG_WRITE)
    job = {"name": "x_4", "source": SOURCE, "schedule": {"interval_s": 60}}
    refused = await gql(writer, CREATE, input=job)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    reader = await key(Scope.CATALOG_READ)
    assert "lacks the 'catalog:write' scope" in messages(await gql(reader, CREATE, input=job))


async def test_an_unreachable_ingest_is_a_clear_error(
    catalog_env: CatalogSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.catalog.config import get_catalog_settings

    monkeypatch.setenv("MINDLAKE_CATALOG_INGEST_URL", f"http://127.0.0.1:{_free_port()}")
    get_catalog_settings.cache_clear()
    try:
        body = await gql(await key(Scope.ADMIN), "{ listIngestionJobs { id } }")
    finally:
        get_catalog_settings.cache_clear()
    assert "the ingest API is unreachable" in messages(body)
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
