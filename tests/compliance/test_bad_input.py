"""Bad input to the compliance API is a 4xx problem naming the field, never a 500 (issue 10):
non-ASCII signatures and cursors, NUL characters, ids and numbers past int64."""

from __future__ import annotations

import uuid

import httpx
import pytest


def problem(reply: httpx.Response, status: int) -> list[str]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in reply.json().get("errors", [])]


@pytest.mark.parametrize("signature", ["é" * 64, "\u0000", "00", "ff" * 64])
@pytest.mark.parametrize("expires", [9_999_999_999, 2**70])
async def test_a_bad_download_signature_is_refused_without_a_500(
    app_transport: httpx.ASGITransport, signature: str, expires: int
) -> None:
    async with httpx.AsyncClient(transport=app_transport, base_url="http://c") as anonymous:
        reply = await anonymous.get(
            f"/v1/subject-exports/{uuid.uuid4()}/download",
            params={"expires": expires, "signature": signature},
        )
    assert problem(reply, 400) == ["signature"]


@pytest.mark.parametrize("cursor", ["١٢", "²", "1" * 19, "-1", "abc"])
async def test_a_malformed_audit_cursor_is_a_400_naming_it(
    auditor: httpx.AsyncClient, cursor: str
) -> None:
    reply = await auditor.get("/v1/audit", params={"purpose": "Admin", "cursor": cursor})
    assert problem(reply, 400) == ["cursor"]


@pytest.mark.parametrize("field", ["subject", "actor"])
async def test_a_nul_in_an_audit_filter_is_a_422_naming_it(
    auditor: httpx.AsyncClient, field: str
) -> None:
    reply = await auditor.get("/v1/audit", params={"purpose": "Admin", field: "a\u0000b"})
    assert problem(reply, 422) == [field]


async def test_numbers_past_their_bounds_are_4xx(admin: httpx.AsyncClient) -> None:
    reply = await admin.get("/v1/retention/runs", params={"limit": 2**64})
    assert problem(reply, 422) == ["limit"]
    reply = await admin.get("/v1/audit", params={"purpose": "Admin", "limit": 2**64})
    assert problem(reply, 400) == ["limit"]
    reply = await admin.put("/v1/retention/policies/raw/events", json={"retention_days": 2**63})
    assert problem(reply, 422) == ["retention_days"]


async def test_erasure_accepts_an_email_shaped_id_that_may_exist_in_the_lake(
    admin: httpx.AsyncClient,
) -> None:
    reply = await admin.post(f"/v1/subjects/legacy.{uuid.uuid4().hex[:6]}@example.org/erasure")
    assert reply.status_code == 202, reply.text
