"""Bad input to the consent API is a 422 naming the field, never a 500 (issue 10): ids past
int64, NUL characters Postgres cannot store, and user ids that are contact details."""

from __future__ import annotations

import httpx
import pytest

from services.consent.config import get_consent_settings


def fields(reply: httpx.Response) -> list[str]:
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in reply.json()["errors"]]


async def test_an_after_id_past_int64_is_a_422_naming_it(
    auditor: httpx.AsyncClient, user_id: str
) -> None:
    reply = await auditor.get(f"/v1/consent/{user_id}/history", params={"after_id": 2**63})
    assert fields(reply) == ["after_id"]
    ok = await auditor.get(f"/v1/consent/{user_id}/history", params={"after_id": 2**63 - 1})
    assert ok.status_code == 200 and ok.json()["entries"] == []


async def test_a_nul_in_a_string_field_is_a_422_naming_it(
    admin: httpx.AsyncClient, user_id: str
) -> None:
    change = {"purposes": {"research": True}, "policy_version": "v1\u0000"}
    reply = await admin.put(f"/v1/consent/{user_id}", json=change)
    assert fields(reply) == ["policy_version"]
    assert "NUL" in reply.json()["errors"][0]["reason"]
    reply = await admin.post(f"/v1/consent/{user_id}/revoke-all", json={"policy_version": "\x00"})
    assert fields(reply) == ["policy_version"]
    reply = await admin.put("/v1/consent/u%00x", json={**change, "policy_version": "v1"})
    assert fields(reply) == ["user_id"]
    reply = await admin.post(
        "/v1/consent/check", json={"purpose": "research", "user_ids": ["ok-1", "a\u0000b"]}
    )
    assert fields(reply) == ["user_ids[1]"]


@pytest.mark.parametrize("contact", ["leaktest123@example.org", "14155552671"])
async def test_a_user_id_that_is_an_email_or_phone_is_refused(
    admin: httpx.AsyncClient, contact: str
) -> None:
    change = {"purposes": {"research": True}, "policy_version": "v1"}
    reply = await admin.put(f"/v1/consent/{contact}", json=change)
    assert fields(reply) == ["user_id"]
    reason = reply.json()["errors"][0]["reason"]
    assert "opaque" in reason and contact not in reply.text  # why, without echoing it
    assert fields(await admin.get(f"/v1/consent/{contact}")) == ["user_id"]
    reply = await admin.post(
        "/v1/consent/check", json={"purpose": "research", "user_ids": ["ok-1", contact]}
    )
    assert fields(reply) == ["user_ids[1]"]


async def test_contact_user_ids_are_allowed_by_the_setting(
    admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_consent_settings(), "allow_contact_user_ids", True)
    change = {"purposes": {"research": True}, "policy_version": "v1"}
    reply = await admin.put("/v1/consent/legacy.user@example.org", json=change)
    assert reply.status_code == 200, reply.text
