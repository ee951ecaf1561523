"""The asset catalog over a real lake (local folder and S3 over HTTP) and Postgres: the
reconcile finds every asset of the lake with its schema, version, counts and per-column
privacy class; a writer's hint refreshes one; vanished assets are marked missing; the REST
API lists, filters and reads them, with a Delta asset's versions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from deltalake import DeltaTable
from sqlalchemy import text

from libs.common.auth import Scope
from libs.common.db import get_engine
from libs.common.lake import Lake
from services.catalog.assets import service
from services.catalog.config import CatalogSettings
from tests.catalog.support import call, key, reconcile

pytestmark = pytest.mark.integration


def by_location(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["location"]: a for a in items}


def privacy(asset: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["privacy"] for c in asset["columns"]}


async def test_the_reconcile_finds_every_asset_with_its_facts(catalog_env: CatalogSettings) -> None:
    counts = await reconcile(catalog_env)
    assert counts == {"assets": 6, "failed": 0, "missing": 0}
    reader = await key(Scope.CATALOG_READ)
    reply = await call(reader, "GET", "/v1/assets")
    assert reply.status_code == 200, reply.text
    assets = by_location(reply.json()["items"])
    assert sorted(assets) == [
        "backups/consent_records",
        "models/risk",
        "processed/training-data",
        "raw/events",
        "raw/quarantine/acme/interactions",
        "raw/tenants/acme/interactions",
    ]  # fmt: skip  (the subject request's working file is no asset)

    events = assets["raw/events"]
    assert (events["storage_format"], events["asset_type"]) == ("DELTA", "TIME_SERIES")
    assert (events["version"], events["rows"], events["files"]) == (1, 8, 2)
    assert events["partition_columns"] == ["service", "event_date"]
    assert events["owner"] == "ingest" and events["purpose"] is None
    classes = privacy(events)
    assert classes["body"] == "encrypted_per_user"  # every sampled value is sealed
    assert classes["subject_key"] == "keyed_hash"
    assert classes["user_id"] == "clear" and classes["event_type"] == "clear"
    user_id = next(c for c in events["columns"] if c["name"] == "user_id")
    assert user_id["personal"] is True and user_id["type"] == "string"

    tenant = assets["raw/tenants/acme/interactions"]
    assert tenant["name"] == "tenant acme: interactions" and tenant["rows"] == 2
    assert privacy(tenant)["referrer"] == "keyed_hash"  # <USER_ID:...> tags

    training = assets["processed/training-data"]
    assert (training["storage_format"], training["purpose"]) == ("JSONL", "ai_training")
    assert privacy(training) == {
        "prompt": "scrubbed_free_text", "completion": "scrubbed_free_text", "quality": "clear"
    }  # fmt: skip
    assert training["files"] == 2 and training["rows"] is None

    quarantine = assets["raw/quarantine/acme/interactions"]
    assert quarantine["storage_format"] == "PARQUET" and quarantine["rows"] == 1
    assert assets["models/risk"]["files"] == 2 and assets["models/risk"]["columns"] == []
    assert assets["backups/consent_records"]["owner"] == "consent"


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_a_hint_refreshes_one_asset_and_a_vanished_one_is_missing(
    catalog_env: CatalogSettings,
) -> None:
    await reconcile(catalog_env)
    lake, reader = Lake(catalog_env), await key(Scope.CATALOG_READ)
    asset_id = service.asset_id("raw/events")
    before = (await call(reader, "GET", f"/v1/assets/{asset_id}")).json()
    # Inspected again without a change: the same row, the data's time unmoved.
    await service.register(engine=get_engine(), lake=lake, settings=catalog_env,
                           path="raw/events/_delta_log/00000000000000000001.json",
                           writer="ingest")  # fmt: skip
    same = (await call(reader, "GET", f"/v1/assets/{asset_id}")).json()
    assert same["updated_at"] == before["updated_at"] and same["created_at"] == before["created_at"]
    assert same["last_writer"] == "ingest"
    # A delete: a new version, fewer rows, and the versions say what happened.
    DeltaTable(lake.uri("raw/events")).delete("event_id = 'e0'")
    registered = await service.register(
        engine=get_engine(), lake=lake, settings=catalog_env, path="raw/events", writer="risk"
    )
    assert registered == "raw/events"
    after = (await call(reader, "GET", f"/v1/assets/{asset_id}")).json()
    assert (after["version"], after["rows"]) == (2, 7)
    assert after["created_at"] == before["created_at"] and after["last_writer"] == "risk"
    assert after["updated_at"] > before["updated_at"]
    versions = (await call(reader, "GET", f"/v1/assets/{asset_id}/versions")).json()["items"]
    assert [v["version"] for v in versions] == [2, 1, 0]
    assert versions[0]["operation"] == "DELETE" and versions[0]["rows_removed"] == 1
    assert versions[1]["rows_added"] == 3 and versions[2]["rows_added"] == 5
    # A path no kind claims is not registered.
    unclaimed = await service.register(
        engine=get_engine(), lake=lake, settings=catalog_env, path="subject-requests/r-1",
        writer="compliance",
    )  # fmt: skip
    assert unclaimed is None
    # The models folder is removed: the next reconcile marks it missing, and keeps the rest.
    for obj in lake.list("models/risk"):
        lake.delete(obj.path)
    assert await reconcile(catalog_env) == {"assets": 5, "failed": 0, "missing": 1}
    models = (await call(reader, "GET", f"/v1/assets/{service.asset_id('models/risk')}")).json()
    assert models["status"] == "missing"
    kept = (await call(reader, "GET", f"/v1/assets/{asset_id}")).json()
    assert kept["last_writer"] == "risk"  # a reconcile names no writer, and forgets none


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_listing_filters_and_bad_requests(catalog_env: CatalogSettings) -> None:
    await reconcile(catalog_env)
    reader = await key(Scope.CATALOG_READ)

    async def locations(**params: Any) -> list[str]:
        reply = await call(reader, "GET", "/v1/assets", params=params)
        assert reply.status_code == 200, reply.text
        return [a["location"] for a in reply.json()["items"]]

    assert await locations(type="TIME_SERIES") == ["raw/events"]
    assert await locations(tag=["raw", "csv"]) == ["raw/tenants/acme/interactions"]
    assert await locations(owner="consent") == ["backups/consent_records"]
    assert await locations(limit=2, offset=1) == ["models/risk", "processed/training-data"]
    assert await locations(tag="ünïcødé ✓") == []

    bad = {
        "/v1/assets?limit=100000": "limit",
        "/v1/assets?type=VIDEO": "type",
        "/v1/assets?offset=-1": "offset",
        "/v1/assets?tag=a%00b": "tag",
        "/v1/assets/not-a-uuid": "asset_id",
        "/v1/assets?purpose=Gossip": "purpose",
    }
    for path, field in bad.items():
        reply = await call(reader, "GET", path)
        assert reply.status_code == 422, (path, reply.text)
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert field in reply.text, (path, reply.text)
    missing = await call(reader, "GET", f"/v1/assets/{uuid.uuid4()}")
    assert missing.status_code == 404
    not_delta = await call(reader, "GET", f"/v1/assets/{service.asset_id('models/risk')}/versions")
    assert not_delta.status_code == 422 and "storage format BINARY" in not_delta.text
    # Keys: none, the wrong scope; reading is not reconciling.
    assert (await call(None, "GET", "/v1/assets")).status_code == 401
    assert (await call(await key(Scope.RISK_READ), "GET", "/v1/assets")).status_code == 403
    assert (await call(reader, "POST", "/v1/catalog/reconcile")).status_code == 403


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_every_read_is_audited_with_its_purpose(catalog_env: CatalogSettings) -> None:
    await reconcile(catalog_env)
    reader = await key(Scope.CATALOG_READ)
    asset_id = service.asset_id("raw/events")
    reply = await call(reader, "GET", f"/v1/assets/{asset_id}", params={"purpose": "Research"})
    assert reply.status_code == 200
    async with get_engine().connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT purpose, action FROM common.audit_outbox WHERE asset = :a"),
                {"a": f"catalog/assets/{asset_id}"},
            )
        ).all()
    assert ("Research", "Read") in [tuple(r) for r in rows]


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_an_unreadable_asset_does_not_hide_the_others(catalog_env: CatalogSettings) -> None:
    lake = Lake(catalog_env)
    lake.write_bytes("raw/quarantine/acme/broken/up-2.parquet", b"PAR1 not parquet PAR1")
    counts = await reconcile(catalog_env)
    assert counts == {"assets": 6, "failed": 1, "missing": 0}
