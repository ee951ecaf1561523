"""The consent API against real Postgres and Redis: ledger, state, errors, scopes, events."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from libs.common.db import get_engine

PURPOSES = {"ai_training", "analytics", "personalization", "risk_assessment", "research"}


def change(policy: str = "2026-11", **purposes: bool) -> dict[str, object]:
    return {"purposes": purposes, "policy_version": policy, "source": "app"}


def granted(state: dict[str, object]) -> set[str]:
    return {p["purpose"] for p in state["purposes"] if p["granted"]}  # type: ignore[attr-defined,index]


async def test_no_record_means_not_granted(admin: httpx.AsyncClient, user_id: str) -> None:
    reply = await admin.get(f"/v1/consent/{user_id}")
    assert reply.status_code == 200
    body = reply.json()
    assert {p["purpose"] for p in body["purposes"]} == PURPOSES
    assert granted(body) == set()
    assert all(p["as_of"] is None for p in body["purposes"])
    check = (await admin.get(f"/v1/consent/{user_id}/check?purpose=research")).json()
    assert check == {
        "user_id": user_id,
        "purpose": "research",
        "allowed": False,
        "as_of": None,
        "policy_version": None,
    }


async def test_the_ledger_keeps_every_change_and_derives_the_state(
    admin: httpx.AsyncClient, user_id: str
) -> None:
    r1 = await admin.put(f"/v1/consent/{user_id}", json=change(ai_training=True, research=True))
    assert r1.status_code == 200, r1.text
    assert granted(r1.json()) == {"ai_training", "research"}
    r2 = await admin.put(f"/v1/consent/{user_id}", json=change("2026-12", research=False))
    assert granted(r2.json()) == {"ai_training"}
    await admin.put(f"/v1/consent/{user_id}", json=change("2027-01", research=True))

    check = (await admin.get(f"/v1/consent/{user_id}/check", params={"purpose": "research"})).json()
    assert check["allowed"] is True and check["policy_version"] == "2027-01"
    assert check["as_of"] is not None

    history = (await admin.get(f"/v1/consent/{user_id}/history")).json()
    rows = [(e["purpose"], e["granted"], e["policy_version"]) for e in history["entries"]]
    assert rows == [
        ("ai_training", True, "2026-11"),
        ("research", True, "2026-11"),
        ("research", False, "2026-12"),
        ("research", True, "2027-01"),
    ]
    assert all(e["source"] == "app" and e["actor_key_id"] for e in history["entries"])
    assert history["entries"][0]["lawful_basis"] == "explicit_consent"

    page = (await admin.get(f"/v1/consent/{user_id}/history", params={"limit": 3})).json()
    assert len(page["entries"]) == 3 and page["next_after_id"] == page["entries"][-1]["id"]
    rest = await admin.get(
        f"/v1/consent/{user_id}/history", params={"after_id": page["next_after_id"]}
    )
    assert [e["policy_version"] for e in rest.json()["entries"]] == ["2027-01"]


async def test_revoke_all_withdraws_every_granted_purpose(
    admin: httpx.AsyncClient, user_id: str
) -> None:
    await admin.put(
        f"/v1/consent/{user_id}",
        json=change(ai_training=True, analytics=True, personalization=False),
    )
    reply = await admin.post(f"/v1/consent/{user_id}/revoke-all", json={"source": "admin"})
    assert reply.status_code == 200, reply.text
    assert granted(reply.json()) == set()
    history = (await admin.get(f"/v1/consent/{user_id}/history")).json()["entries"]
    withdrawals = [e for e in history if not e["granted"] and e["source"] == "admin"]
    assert {e["purpose"] for e in withdrawals} == {"ai_training", "analytics"}


async def test_the_ledger_is_append_only_in_postgres(
    admin: httpx.AsyncClient, user_id: str
) -> None:
    await admin.put(f"/v1/consent/{user_id}", json=change(analytics=True))
    for statement in (
        "UPDATE consent.ledger SET granted = false WHERE user_id = :u",
        "DELETE FROM consent.ledger WHERE user_id = :u",
        "TRUNCATE consent.ledger",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with get_engine().begin() as conn:
                await conn.execute(text(statement), {"u": user_id})
    check = await admin.get(f"/v1/consent/{user_id}/check", params={"purpose": "analytics"})
    assert check.json()["allowed"] is True


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("get", "/v1/consent/{u}/check?purpose=mind_reading", None, "purpose"),
        ("get", "/v1/consent/{u}/check", None, "purpose"),
        ("get", "/v1/consent/bad%20id!/check?purpose=research", None, "user_id"),
        ("get", "/v1/consent/-starts-with-dash", None, "user_id"),
        ("put", "/v1/consent/{u}", change(mind_reading=True), "purposes.mind_reading.[key]"),
        ("put", "/v1/consent/{u}", {"purposes": {}, "policy_version": "1"}, "purposes"),
        ("put", "/v1/consent/{u}", {"purposes": {"research": True}}, "policy_version"),
        ("put", "/v1/consent/{u}", {**change(research=True), "source": "web"}, "source"),
        (
            "post",
            "/v1/consent/check",
            {"purpose": "research", "user_ids": ["ok", "no way"]},
            "user_ids[1]",
        ),
        ("post", "/v1/consent/check", {"purpose": "nope", "user_ids": ["ok"]}, "purpose"),
    ],
)
async def test_bad_input_is_a_clear_problem(
    admin: httpx.AsyncClient,
    user_id: str,
    method: str,
    path: str,
    body: object,
    field: str,
) -> None:
    url = path.format(u=user_id)
    reply = await admin.request(method, url, json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    fields = [e["field"] for e in reply.json()["errors"]]
    assert field in fields, fields


@pytest.mark.parametrize(("method", "suffix"), [("get", "/history"), ("post", "/revoke-all")])
async def test_unknown_user_is_404(
    admin: httpx.AsyncClient, user_id: str, method: str, suffix: str
) -> None:
    reply = await admin.request(method, f"/v1/consent/{user_id}{suffix}")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["errors"] == [{"field": "user_id", "reason": "unknown user"}]
    assert user_id not in reply.text.replace(f"/v1/consent/{user_id}", "")


async def test_scopes(
    admin: httpx.AsyncClient,
    auditor: httpx.AsyncClient,
    ingest_only: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    user_id: str,
) -> None:
    await admin.put(f"/v1/consent/{user_id}", json=change(research=True))
    assert (await anonymous.get(f"/v1/consent/{user_id}")).status_code == 401
    assert (await ingest_only.get(f"/v1/consent/{user_id}")).status_code == 403
    for read in ("", "/history", "/check?purpose=research"):
        assert (await auditor.get(f"/v1/consent/{user_id}{read}")).status_code == 200, read
    bulk = await auditor.post(
        "/v1/consent/check", json={"purpose": "research", "user_ids": [user_id]}
    )
    assert bulk.json() == {"purpose": "research", "checked": 1, "allowed": [user_id]}
    put = await auditor.put(f"/v1/consent/{user_id}", json=change(research=False))
    assert put.status_code == 403
    assert (await auditor.post(f"/v1/consent/{user_id}/revoke-all")).status_code == 403


async def test_a_change_publishes_consent_changed_after_the_commit(
    admin: httpx.AsyncClient, user_id: str, redis_url: str
) -> None:
    broker = redis.Redis.from_url(redis_url)
    broker.delete("consent")  # the consent queue (kombu keeps it as a Redis list)
    await admin.put(f"/v1/consent/{user_id}", json=change(ai_training=True, research=False))
    messages = [json.loads(m) for m in broker.lrange("consent", 0, -1)]
    mine = [
        m for m in messages if json.loads(base64.b64decode(m["body"]))[1].get("user_id") == user_id
    ]
    assert len(mine) == 1
    headers = mine[0]["headers"]
    assert headers["task"] == "consent.changed" and headers["expires"]
    _, kwargs, _ = json.loads(base64.b64decode(mine[0]["body"]))
    assert kwargs["purposes"] == ["ai_training", "research"]
    assert kwargs["granted"] == ["ai_training"]
    assert kwargs["at"]


async def test_consent_access_is_audited(admin: httpx.AsyncClient, user_id: str) -> None:
    await admin.put(f"/v1/consent/{user_id}", json=change(analytics=True))
    await admin.get(f"/v1/consent/{user_id}/check", params={"purpose": "analytics"})
    async with get_engine().connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT action, purpose, asset, device FROM common.audit_outbox "
                    "WHERE subject = :u ORDER BY id"
                ),
                {"u": user_id},
            )
        ).all()
    if not rows:  # the compliance worker may already have chained them
        async with get_engine().connect() as conn:
            count = await conn.scalar(
                text("SELECT count(*) FROM compliance.audit_log WHERE subject = :u"),
                {"u": user_id},
            )
        assert count == 2
        return
    assert [(r.action, r.asset) for r in rows] == [
        ("Write", "consent/ledger"),
        ("Read", "consent/check/analytics"),
    ]
    assert all(r.purpose == "Admin" and r.device == "consent-tests/1.0" for r in rows)
