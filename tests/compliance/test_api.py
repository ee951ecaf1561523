"""GET /v1/audit: redaction per reader purpose, filters, keyset pages, scopes, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from libs.common.audit import AuditAction, AuditPurpose, audit
from libs.common.db import get_engine
from services.compliance.audit.service import chain_pending
from tests.compliance.helpers import T0, emit_and_chain, entry

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"


async def one_entry(client: httpx.AsyncClient, purpose: str) -> dict[str, Any]:
    await audit(entry(0, subject="user-42", client_ip="203.0.113.77", device=UA))
    await chain_pending(get_engine(), 100)
    reply = await client.get("/v1/audit", params={"purpose": purpose})
    assert reply.status_code == 200, reply.text
    items = [i for i in reply.json()["items"] if i["asset"] == "raw/events/0"]
    assert len(items) == 1
    return items[0]


@pytest.mark.parametrize(
    ("purpose", "subject", "ip", "device"),
    [
        ("UserView", "user-42", "203.0.113.77", UA),
        ("ProviderAccess", "user-42", "203.0.113.77", UA),
        ("Admin", "user-42", "203.0.113.77", UA),
        ("DataSync", "user-42", "203.0.113.0/24", UA),
        ("Research", None, "redacted", None),
        ("Analytics", None, "redacted", None),
        ("MachineLearning", None, "redacted", None),
    ],
)
async def test_redaction_follows_the_readers_purpose(
    auditor: httpx.AsyncClient, purpose: str, subject: str | None, ip: str, device: str | None
) -> None:
    item = await one_entry(auditor, purpose)
    assert (item["subject"], item["client_ip"], item["device"]) == (subject, ip, device)
    assert item["actor"] == "key0" and len(item["hash"]) == 64


async def test_filters_and_keyset_pages(auditor: httpx.AsyncClient) -> None:
    await emit_and_chain(60)  # subjects user-0..4, actors key0..2, minutes 0..59

    async def ids(**params: Any) -> list[int]:
        reply = await auditor.get("/v1/audit", params={"purpose": "Admin", **params})
        assert reply.status_code == 200, reply.text
        return [i["id"] for i in reply.json()["items"]]

    assert await ids(subject="user-3", limit=500) == [
        i + 1 for i in range(59, -1, -1) if i % 5 == 3
    ]
    assert len(await ids(actor="key1", limit=500)) == 20
    assert len(await ids(entry_purpose="Research", limit=500)) == 9  # i % 7 == 2
    assert len(await ids(action="Delete", limit=500)) == 12  # i % 5 == 2
    window = await ids(since=T0.replace(minute=10).isoformat(), until="2026-11-01T12:20:00Z")
    assert sorted(window) == list(range(11, 21))

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"purpose": "Admin", "limit": 25, "actor": "key0"}
        if cursor:
            params["cursor"] = cursor
        page = (await auditor.get("/v1/audit", params=params)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # entries by key0 (20 seeded) plus none of the reads (the test keys have other ids)
    assert len(seen) == len(set(seen)) == 20 and seen == sorted(seen, reverse=True)


async def test_reads_are_audited(auditor: httpx.AsyncClient) -> None:
    await auditor.get("/v1/audit", params={"purpose": "UserView", "subject": "user-9"})
    await auditor.get("/v1/audit/verify")
    async with get_engine().connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT purpose, action, asset, subject, client_ip, device "
                    "FROM common.audit_outbox ORDER BY id"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (
            "UserView",
            "Read",
            "compliance.audit_log",
            "user-9",
            "198.51.100.23",
            "pytest-auditor/1.0",
        ),
        (
            "Admin",
            "Read",
            "compliance.audit_log/verify",
            None,
            "198.51.100.23",
            "pytest-auditor/1.0",
        ),
    ]


async def test_scopes(
    admin: httpx.AsyncClient, auditor: httpx.AsyncClient, ingest_only: httpx.AsyncClient
) -> None:
    await audit(entry(1))
    assert (await ingest_only.get("/v1/audit", params={"purpose": "Admin"})).status_code == 403
    assert (await ingest_only.get("/v1/audit/verify")).status_code == 403
    anonymous = httpx.AsyncClient(transport=admin._transport, base_url="http://compliance")
    assert (await anonymous.get("/v1/audit/verify")).status_code == 401
    assert (await auditor.get("/v1/audit/verify")).status_code == 200
    forbidden = await auditor.post("/v1/audit/chain")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    chained = await admin.post("/v1/audit/chain")
    assert chained.status_code == 200
    assert chained.json()["chained"] >= 2  # the entry and the admin action itself
    page = (await admin.get("/v1/audit", params={"purpose": "Admin", "action": "Write"})).json()
    assert any(i["asset"] == "compliance.audit_log/chain" for i in page["items"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "purpose"),
        ({"purpose": "Marketing"}, "purpose"),
        ({"purpose": "Admin", "entry_purpose": "Nope"}, "entry_purpose"),
        ({"purpose": "Admin", "action": "Peek"}, "action"),
        ({"purpose": "Admin", "cursor": "abc"}, "cursor"),
        ({"purpose": "Admin", "limit": 0}, "limit"),
        ({"purpose": "Admin", "limit": 100000}, "limit"),
        ({"purpose": "Admin", "since": "yesterday"}, "since"),
        (
            {"purpose": "Admin", "since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
            "since",
        ),
        ({"purpose": "Research", "subject": "user-1"}, "subject"),
    ],
)
async def test_bad_input_is_problem_json(
    auditor: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    reply = await auditor.get("/v1/audit", params=params)
    assert reply.status_code in (400, 422)
    assert reply.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in reply.json()["errors"]]


async def test_unknown_purpose_in_audit_call_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        AuditPurpose("Marketing")
    with pytest.raises(ValueError):
        AuditAction("Peek")
