"""libs.common.audit: what an entry records from a request, and durable group-committed writes."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from starlette.requests import Request

from libs.common import audit as audit_module
from libs.common.audit import AuditAction, AuditEntry, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal
from libs.common.db import get_engine

PRINCIPAL = Principal("k123", "test", frozenset({"admin"}), frozenset({"*"}))


def request(headers: dict[str, str], peer: str = "10.0.0.5") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": (peer, 1234),
        }
    )


def test_entry_from_request_takes_forwarded_ip_and_user_agent() -> None:
    entry = entry_from_request(
        request({"X-Forwarded-For": "203.0.113.9, 10.0.0.1", "User-Agent": "app/2.1 (iOS)"}),
        PRINCIPAL,
        purpose=AuditPurpose.UserView,
        action=AuditAction.Read,
        asset="consent/user-1",
        subject="user-1",
    )
    assert (entry.actor, entry.client_ip, entry.device) == ("k123", "203.0.113.9", "app/2.1 (iOS)")
    assert entry.at.tzinfo is not None


def test_entry_from_request_falls_back_to_the_peer() -> None:
    entry = entry_from_request(
        request({}),
        PRINCIPAL,
        purpose=AuditPurpose.Admin,
        action=AuditAction.Write,
        asset="keys",
        subject=None,
    )
    assert (entry.client_ip, entry.device) == ("10.0.0.5", None)


async def outbox_count(asset: str) -> int:
    async with get_engine().connect() as conn:
        return int(
            await conn.scalar(
                text("SELECT count(*) FROM common.audit_outbox WHERE asset = :a"), {"a": asset}
            )
            or 0
        )


async def test_audit_is_durable_on_return_and_batches_concurrent_callers(database: str) -> None:
    transactions = 0
    real_insert = audit_module.insert_outbox

    async def counting(conn: object, entries: object) -> None:
        nonlocal transactions
        transactions += 1
        await real_insert(conn, entries)  # type: ignore[arg-type]

    audit_module.insert_outbox = counting  # type: ignore[assignment]
    try:
        entries = [
            AuditEntry("k1", AuditPurpose.Admin, AuditAction.Read, "test/batch", f"u{i}")
            for i in range(200)
        ]
        await asyncio.gather(*(audit(e) for e in entries))
    finally:
        audit_module.insert_outbox = real_insert
    assert await outbox_count("test/batch") == 200
    assert transactions < 50  # 200 callers shared a handful of commits


async def test_a_failed_write_reaches_the_caller(database: str) -> None:
    entry = AuditEntry("k1", AuditPurpose.Admin, AuditAction.Read, "test/fail", "x" * 10)
    broken = AuditEntry("k1", AuditPurpose.Admin, AuditAction.Read, "test/fail", None)
    object.__setattr__(broken, "at", "not a time")
    with pytest.raises(Exception):
        await audit(entry, broken)
    assert await outbox_count("test/fail") == 0  # nothing half-written
