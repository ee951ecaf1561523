"""Durable emission, chaining exactly once, and a chain that catches tampering."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from libs.common.audit import AuditAction, AuditPurpose, audit
from libs.common.db import get_engine
from services.compliance.audit.chain import GENESIS
from services.compliance.audit.service import chain_pending, verify_chain
from tests.compliance.helpers import emit_and_chain, entry


async def scalar(sql: str) -> object:
    async with get_engine().connect() as conn:
        return await conn.scalar(text(sql))


async def test_audit_returns_once_the_entry_is_durable(clean_audit: None) -> None:
    await audit(entry(1, subject="user-durable"))
    assert (
        await scalar("SELECT count(*) FROM common.audit_outbox WHERE subject='user-durable'") == 1
    )


async def test_concurrent_audits_share_commits_and_all_land(clean_audit: None) -> None:
    await asyncio.gather(*(audit(entry(i)) for i in range(300)))
    assert await scalar("SELECT count(*) FROM common.audit_outbox") == 300


async def test_chain_task_moves_outbox_into_a_verified_chain(clean_audit: None) -> None:
    assert await emit_and_chain(25) == 25
    assert await scalar("SELECT count(*) FROM common.audit_outbox") == 0
    assert await scalar("SELECT count(*) FROM compliance.audit_log") == 25
    assert await scalar("SELECT prev_hash FROM compliance.audit_log WHERE id = 1") == GENESIS
    # a second run and concurrent runs chain nothing twice
    await audit(*(entry(i) for i in range(25, 40)))
    moved = await asyncio.gather(*(chain_pending(get_engine(), 4) for _ in range(3)))
    assert sum(moved) == 15
    assert await scalar("SELECT count(DISTINCT entry_id) FROM compliance.audit_log") == 40
    report = await verify_chain(get_engine(), page_rows=7)  # several pages
    assert report.ok and report.checked == 40 and report.broken is None


async def test_verify_endpoint_ok(clean_audit: None, auditor: httpx.AsyncClient) -> None:
    await emit_and_chain(10)
    body = (await auditor.get("/v1/audit/verify")).json()
    assert body == {"ok": True, "checked": 10, "last_id": 10, "broken": None}


async def test_altered_row_is_caught(clean_audit: None, auditor: httpx.AsyncClient) -> None:
    await emit_and_chain(20)
    stored = await scalar("SELECT hash FROM compliance.audit_log WHERE id = 7")
    async with get_engine().begin() as conn:
        await conn.execute(
            text("UPDATE compliance.audit_log SET subject = 'someone-else' WHERE id = 7")
        )
    body = (await auditor.get("/v1/audit/verify")).json()
    assert body["ok"] is False and body["checked"] == 6
    broken = body["broken"]
    assert broken["id"] == 7 and broken["reason"] == "hash"
    assert broken["found"] == stored and broken["expected"] != stored


async def test_altered_row_with_recomputed_hash_is_caught_at_the_next_link(
    clean_audit: None,
) -> None:
    """A forger who also rewrites the row's hash breaks the next row's prev_hash."""
    await emit_and_chain(5)
    async with get_engine().begin() as conn:
        await conn.execute(
            text("UPDATE compliance.audit_log SET hash = repeat('a', 64) WHERE id = 3")
        )
    report = await verify_chain(get_engine(), page_rows=100)
    assert report.broken is not None and report.broken.id == 3  # its own hash no longer fits


async def test_deleted_row_is_caught(clean_audit: None, auditor: httpx.AsyncClient) -> None:
    await emit_and_chain(20)
    async with get_engine().begin() as conn:
        await conn.execute(text("DELETE FROM compliance.audit_log WHERE id = 12"))
    body = (await auditor.get("/v1/audit/verify")).json()
    assert body["ok"] is False
    assert body["broken"] == {"id": 12, "reason": "missing", "expected": "id 12", "found": "id 13"}


async def test_cut_off_tail_is_caught(clean_audit: None) -> None:
    await emit_and_chain(8)
    async with get_engine().begin() as conn:
        await conn.execute(text("DELETE FROM compliance.audit_log WHERE id >= 7"))
    report = await verify_chain(get_engine(), page_rows=100)
    assert not report.ok and report.broken is not None
    assert (report.broken.id, report.broken.reason) == (7, "head")


async def test_bad_purpose_is_refused_before_writing(clean_audit: None) -> None:
    import pytest

    with pytest.raises(ValueError):
        await audit(entry(1, purpose="Marketing"))
    with pytest.raises(ValueError):
        await audit(
            entry(1, action=AuditAction.Read, purpose=AuditPurpose.Admin), entry(2, action="Peek")
        )
    assert await scalar("SELECT count(*) FROM common.audit_outbox") == 0
