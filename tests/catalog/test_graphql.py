"""The catalog's GraphQL API (/graphql) over real Postgres and a local lake: the lakehouse
document's asset queries, filters and paging, the audit entry with the caller's purpose, and
bad queries (unknown fields, wrong types, huge integers, too many aliases or tokens, no key)
answered as GraphQL errors, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from libs.common.auth import Scope
from libs.common.db import get_engine
from services.catalog.assets import service
from services.catalog.config import CatalogSettings
from tests.catalog.support import call, key, reconcile

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("lake_settings", ["local"],
                                                                 indirect=True)]  # fmt: skip

ASSET_FIELDS = """
  id name description assetType storageFormat schema tags createdAt updatedAt version
  location owner purpose retention partitionColumns rows bytes files status
  columns { name type nullable privacy personal }
"""


async def gql(secret: str | None, query: str, **variables: Any) -> dict[str, Any]:
    headers = {"X-Purpose": variables.pop("purpose")} if "purpose" in variables else {}
    reply = await call(secret, "POST", "/graphql", json={"query": query, "variables": variables},
                       headers=headers)  # fmt: skip
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def messages(body: dict[str, Any]) -> str:
    return " | ".join(e["message"] for e in body.get("errors") or [])


async def test_list_and_get_data_assets(catalog_env: CatalogSettings) -> None:
    await reconcile(catalog_env)
    reader = await key(Scope.CATALOG_READ)
    body = await gql(reader, f"{{ listDataAssets {{ {ASSET_FIELDS} }} }}")
    assert "errors" not in body, body
    assets = {a["location"]: a for a in body["data"]["listDataAssets"]}
    assert len(assets) == 6
    events = assets["raw/events"]
    assert (events["assetType"], events["storageFormat"], events["version"]) == (
        "TIME_SERIES", "DELTA", 1
    )  # fmt: skip
    assert events["rows"] == 8 and events["schema"]["partitionColumns"] == ["service", "event_date"]
    body_column = next(c for c in events["columns"] if c["name"] == "body")
    assert body_column["privacy"] == "encrypted_per_user"
    assert events["schema"]["fields"][0]["name"] == "event_id"

    query = """query($types: [DataAssetType!], $tags: [String!], $limit: Int, $offset: Int) {
      listDataAssets(types: $types, tags: $tags, limit: $limit, offset: $offset) { location }
    }"""
    pick = await gql(reader, query, types=["STRUCTURED"], tags=["raw"], limit=1, offset=1)
    assert pick["data"]["listDataAssets"] == [{"location": "raw/tenants/acme/interactions"}]

    asset_id = str(service.asset_id("raw/events"))
    one = await gql(reader, "query($id: ID!) { getDataAsset(id: $id) { name version } }",
                    id=asset_id, purpose="Research")  # fmt: skip
    assert one["data"]["getDataAsset"] == {"name": "raw events", "version": 1}
    none = await gql(reader, "query($id: ID!) { getDataAsset(id: $id) { name } }",
                     id="00000000-0000-0000-0000-000000000000")  # fmt: skip
    assert none == {"data": {"getDataAsset": None}}
    async with get_engine().connect() as conn:
        purposes = (await conn.scalars(
            text("SELECT purpose FROM common.audit_outbox WHERE asset = :a"),
            {"a": f"catalog/assets/{asset_id}"},
        )).all()  # fmt: skip
    assert "Research" in purposes


async def test_bad_queries_are_graphql_errors(catalog_env: CatalogSettings) -> None:
    await reconcile(catalog_env)
    reader = await key(Scope.CATALOG_READ)
    cases = {
        "{ listDataAssets { nope } }": "Cannot query field 'nope'",
        '{ listDataAssets(limit: "ten") { name } }': "Int cannot represent",
        "{ listDataAssets(limit: 99999999999) { name } }": "Int cannot represent",
        "{ listDataAssets(limit: 100000) { name } }": "limit must be between",
        "{ listDataAssets(offset: -1) { name } }": "offset must not be negative",
        "{ listDataAssets(types: [VIDEO]) { name } }": "VIDEO",
        '{ listDataAssets(tags: ["a\\u0000b"]) { name } }': "without NUL",
        '{ getDataAsset(id: "not-a-uuid") { name } }': "not an asset id",
        '{ getDataAsset(id: "ünï ✓") { name } }': "not an asset id",
        "{ listDataAssets { name ": "Syntax Error",
        "{ " + " ".join(f"a{i}: listDataAssets {{ name }}" for i in range(30)) + " }":
            "aliases",
        "{ listDataAssets { " + "name " * 3000 + "} }": "token",
        "mutation { nothing }": "mutation",
    }  # fmt: skip
    for query, expected in cases.items():
        body = await gql(reader, query)
        assert body.get("data") in (None, {}) or "errors" in body, (query[:80], body)
        assert expected.lower() in messages(body).lower(), (query[:80], messages(body))
    wrong = await gql(reader, "{ listDataAssets { name } }", purpose="Gossip")
    assert "X-Purpose must be one of" in messages(wrong)
    anonymous = await gql(None, "{ listDataAssets { name } }")
    assert "API key is required" in messages(anonymous)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    bad_id = await gql(reader, '{ getDataAsset(id: "x") { name } }')
    assert bad_id["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    unknown = await gql(reader, "{ listDataAssets { nope } }")
    assert unknown["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    clinician = await gql(await key(Scope.RISK_READ), "{ listDataAssets { name } }")
    assert "lacks the 'catalog:read' scope" in messages(clinician)
