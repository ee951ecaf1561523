"""CSV upload access: the tenant and data type it accepts, the ingest key it needs, and the
uploads a tenant-limited key may write and read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ingest.csv_support import BAD_CSV, csv_client, landed, tenant, upload

__all__ = ["csv_client"]  # fixture, shared by the CSV upload tests


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tenant": "Acme Corp", "data_type": "interactions"}, "tenant"),
        ({"tenant": "../etc", "data_type": "items"}, "tenant"),
        ({"tenant": "acme", "data_type": "users"}, "data_type"),
    ],
)
async def test_bad_tenant_or_data_type_is_a_422(
    client: Any, params: dict[str, str], field: str
) -> None:
    reply = await client.post("/internal/data/upload-csv", params=params, content=BAD_CSV.encode())
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == [field]


async def test_upload_needs_an_ingest_key(client: Any) -> None:
    reply = await client.post(
        "/internal/data/upload-csv",
        params={"tenant": "acme", "data_type": "items"},
        content=b"item_id,category\n",
        headers={"Authorization": "Bearer mlk_nope_nope"},
    )
    assert reply.status_code == 401
    assert (await client.get("/internal/data/uploads/nope")).status_code == 404


async def _key(*, tenants: list[str], scopes: list[str] | None = None) -> dict[str, str]:
    from libs.common.auth import Scope, create_key
    from libs.common.db import session_maker

    async with session_maker()() as session:
        _, key = await create_key(
            session,
            name="tenant-test",
            scopes=scopes or [Scope.INGEST_WRITE],
            services=["journal-service"],
            tenants=tenants,
        )
        await session.commit()
    return {"Authorization": f"Bearer {key}"}


async def test_keys_upload_and_read_only_within_their_tenants(
    csv_client: Any, lake_settings: Any
) -> None:
    mine, theirs = tenant(), tenant()
    limited = await _key(tenants=[mine])
    body = b"item_id,category\ni_1,books\n"
    params = {"data_type": "items"}
    ok = await csv_client.post(
        "/internal/data/upload-csv",
        params={"tenant": mine, **params},
        content=body,
        headers={**limited, "Content-Type": "text/csv"},
    )
    assert ok.status_code == 200, ok.text
    refused = await csv_client.post(
        "/internal/data/upload-csv",
        params={"tenant": theirs, **params},
        content=body,
        headers={**limited, "Content-Type": "text/csv"},
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["detail"] == f"the API key may not write for tenant '{theirs}'"
    assert problem["errors"] == [{"field": "tenant", "reason": "not among the API key's tenants"}]
    assert landed(lake_settings, f"raw/tenants/{theirs}/items") == []

    # the other tenant's upload (by an unlimited key) is a 404 to the limited key, like an
    # unknown id; its own upload and, with admin, every upload are readable
    other = await upload(csv_client, body, theirs, "items")
    assert other.status_code == 200
    other_id, own_id = other.json()["upload_id"], ok.json()["upload_id"]
    hidden = await csv_client.get(f"/internal/data/uploads/{other_id}", headers=limited)
    unknown = await csv_client.get(f"/internal/data/uploads/{'0' * 32}", headers=limited)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"] == unknown.json()["detail"]
    own = await csv_client.get(f"/internal/data/uploads/{own_id}", headers=limited)
    assert own.status_code == 200 and own.json()["tenant"] == mine
    admin = await _key(tenants=[mine], scopes=["admin"])
    seen = await csv_client.get(f"/internal/data/uploads/{other_id}", headers=admin)
    assert seen.status_code == 200 and seen.json()["tenant"] == theirs
    # an unlimited key (the fixture's) reads both
    assert (await csv_client.get(f"/internal/data/uploads/{own_id}")).status_code == 200


@pytest.mark.parametrize("upload_id", ["%00", "x" * 200, "ABC", "%E2%82%AC"])
async def test_odd_upload_ids_are_a_404(client: Any, upload_id: str) -> None:
    reply = await client.get(f"/internal/data/uploads/{upload_id}")
    assert reply.status_code == 404
    assert reply.json()["detail"] == "no upload with this id"


async def test_a_tenant_with_a_trailing_newline_is_a_422(client: Any) -> None:
    reply = await client.post(
        "/internal/data/upload-csv",
        params={"tenant": "acme\n", "data_type": "items"},
        content=b"item_id,category\n",
    )
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["tenant"]
