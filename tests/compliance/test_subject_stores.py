"""The compliance stores for erasure and portability: the audit log (the chain survives the
erasure of a subject) and earlier portability archives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from libs.common.audit import AuditPurpose, audit
from libs.common.contracts import SubjectStore, TaskName
from libs.common.crypto import DataKeys, new_key, seal
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.settings import CommonSettings, get_settings
from libs.common.subject_rights import Phase, SubjectContext, run_step
from libs.common.subjects import subject_key
from services.compliance.audit import repository
from services.compliance.audit.service import chain_pending, read_log, verify_chain
from services.compliance.subjects.stores import HANDLERS, Archives, AuditLog
from tests.compliance.helpers import entry


def context(user_id: str, lake: Lake | None = None, kind: str = "erasure") -> SubjectContext:
    settings = get_settings()
    return SubjectContext(
        request_id=uuid.uuid4(),
        kind=kind,
        user_id=user_id,
        subject_key=subject_key(user_id, settings),
        data_key=None,
        settings=settings,
        lake=lake or Lake(settings),
        engine=get_engine(),
    )


async def rows(sql: str, **params: object) -> list[tuple[object, ...]]:
    async with get_engine().connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]


async def erase_audit(user_id: str) -> dict[str, int]:
    return await AuditLog().erase(context(user_id))


async def test_the_chain_hashes_the_subject_key_not_the_subject(clean_audit: None) -> None:
    await audit(entry(1, subject="user-hashed"), entry(2, subject=None))
    await chain_pending(get_engine(), 100)
    stored = await rows("SELECT subject, subject_key FROM compliance.audit_log ORDER BY id")
    assert stored == [("user-hashed", subject_key("user-hashed", get_settings())), (None, None)]


async def test_erasure_blanks_the_subject_and_the_chain_still_verifies(
    clean_audit: None,
) -> None:
    erased, kept = f"user-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
    await audit(*(entry(i, subject=erased if i % 3 == 0 else kept) for i in range(30)))
    await chain_pending(get_engine(), 7)
    # entries still waiting in the outbox are chained first, then blanked too
    await audit(entry(100, subject=erased), entry(101, subject=kept))

    assert await erase_audit(erased) == {"audit_entries": 11}

    assert await rows("SELECT 1 FROM compliance.audit_log WHERE subject = :u", u=erased) == []
    assert await rows("SELECT 1 FROM common.audit_outbox") == []
    report = await verify_chain(get_engine(), page_rows=8)
    assert report.ok and report.checked == 32, report.broken
    # the erased user's entries are still found by the key, without the id
    page = await read_log(
        get_engine(),
        repository.LogFilter(subject=erased),
        AuditPurpose.Admin,
        cursor=None,
        limit=100,
    )
    assert len(page.items) == 11 and {i.subject for i in page.items} == {None}
    page = await read_log(
        get_engine(), repository.LogFilter(subject=kept), AuditPurpose.Admin, cursor=None, limit=100
    )
    assert len(page.items) == 21 and {i.subject for i in page.items} == {kept}
    # idempotent: a second run finds nothing
    assert await erase_audit(erased) == {"audit_entries": 0}
    assert (await verify_chain(get_engine(), page_rows=100)).ok


async def test_a_changed_subject_or_key_breaks_the_chain(clean_audit: None) -> None:
    await audit(*(entry(i, subject=f"user-{i}") for i in range(6)))
    await chain_pending(get_engine(), 100)
    await erase_audit("user-2")
    tampering = [
        ("UPDATE compliance.audit_log SET subject = 'someone-else' WHERE id = 4", 4, "hash"),
        # the key altered under an intact subject: the hash still fits, the pair does not
        (
            "UPDATE compliance.audit_log SET subject_key = repeat('b', 32) WHERE id = 5",
            5,
            "subject",
        ),
        # an erased entry's key is all that is left of its subject: covered by the hash
        ("UPDATE compliance.audit_log SET subject_key = repeat('c', 32) WHERE id = 3", 3, "hash"),
        # putting a (different) user id back on an erased entry
        ("UPDATE compliance.audit_log SET subject = 'user-9' WHERE id = 3", 3, "hash"),
    ]
    for sql, at, reason in tampering:
        async with get_engine().begin() as conn:
            before = (
                await conn.execute(
                    text("SELECT subject, subject_key FROM compliance.audit_log WHERE id = :i"),
                    {"i": at},
                )
            ).one()
            await conn.execute(text(sql))
        report = await verify_chain(get_engine(), page_rows=100)
        assert not report.ok and report.broken is not None
        assert (report.broken.id, report.broken.reason) == (at, reason), sql
        async with get_engine().begin() as conn:
            await conn.execute(
                text(
                    "UPDATE compliance.audit_log SET subject = :s, subject_key = :k WHERE id = :i"
                ),
                {"s": before.subject, "k": before.subject_key, "i": at},
            )
        assert (await verify_chain(get_engine(), page_rows=100)).ok


async def test_collect_returns_the_entries_about_the_user(clean_audit: None) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    await audit(entry(1, subject=user), entry(2, subject="someone"), entry(3, subject=user))
    await chain_pending(get_engine(), 100)
    await audit(entry(4, subject=user))  # still in the outbox: collected too
    collected = await AuditLog().collect(context(user))
    assert [r["asset"] for r in collected.records] == [
        "raw/events/1",
        "raw/events/3",
        "raw/events/4",
    ]
    assert collected.identifiers == [user] and collected.texts == []
    # who accessed it, why and when; not the accessor's address or device
    assert {"actor", "purpose", "action", "at", "hash"} <= set(collected.records[0])
    assert not {"client_ip", "device", "subject"} & set(collected.records[0])


# --- archives --------------------------------------------------------------------------------
async def add_export(user_id: str, lake: Lake) -> uuid.UUID:
    request_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO common.subject_requests (id, kind, subject_key, status, sealed_user,"
                " wrapped_key, requested_by, created_at, deadline, verify_attempts, archive_path)"
                " VALUES (:id, 'export', :k, 'done', :s, :w, 'test', :now, :dl, 0, :a)"
            ),
            {
                "id": request_id,
                "k": subject_key(user_id, get_settings()),
                "s": b"sealed",
                "w": b"wrapped",
                "now": now,
                "dl": now + timedelta(hours=1),
                "a": f"subject-requests/{request_id}/archive.zip",
            },
        )
    for name in ("archive.zip", "parts/consent.ledger", "parts/ingest.raw_events"):
        lake.write_bytes(f"subject-requests/{request_id}/{name}", b"sealed bytes")
    return request_id


async def test_archives_erase_deletes_the_users_exports(lake_settings: CommonSettings) -> None:
    lake = Lake(lake_settings)
    user, other = f"user-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
    mine = [await add_export(user, lake), await add_export(user, lake)]
    theirs = await add_export(other, lake)
    handler = Archives()
    ctx = context(user, lake)
    assert (await handler.collect(ctx)).records == []

    assert await handler.erase(ctx) == {"export_requests": 2, "archive_objects": 6}

    assert lake.list("subject-requests/" + str(mine[0])) == []
    assert lake.list("subject-requests/" + str(mine[1])) == []
    assert len(lake.list(f"subject-requests/{theirs}")) == 3
    cleared = await rows(
        "SELECT archive_path, wrapped_key, sealed_user FROM common.subject_requests"
        " WHERE id = ANY(:ids)",
        ids=mine,
    )
    assert cleared == [(None, None, None)] * 2
    left = await rows("SELECT archive_path FROM common.subject_requests WHERE id = :i", i=theirs)
    assert left[0][0] is not None
    assert await handler.erase(ctx) == {"export_requests": 0, "archive_objects": 0}


# --- through the step runner -----------------------------------------------------------------
async def open_request(user_id: str, store: str, phase: str) -> uuid.UUID:
    """A request row as compliance creates it: the user id sealed with the request's key."""
    settings = get_settings()
    request_id, key, now = uuid.uuid4(), new_key(), datetime.now(UTC)
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO common.subject_requests (id, kind, subject_key, status, sealed_user,"
                " wrapped_key, requested_by, created_at, deadline, verify_attempts)"
                " VALUES (:id, 'erasure', :k, 'erasing', :s, :w, 'test', :now, :dl, 0)"
            ),
            {
                "id": request_id,
                "k": subject_key(user_id, settings),
                "s": seal(key, user_id.encode(), b"user"),
                "w": DataKeys(settings).provider.wrap(key),
                "now": now,
                "dl": now + timedelta(hours=1),
            },
        )
        await conn.execute(
            text(
                "INSERT INTO common.subject_request_steps"
                " (request_id, store, phase, status, attempts, updated_at)"
                " VALUES (:id, :s, :p, 'pending', 0, now())"
            ),
            {"id": request_id, "s": store, "p": phase},
        )
    return request_id


async def test_the_step_runner_erases_through_the_registry(clean_audit: None) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    await audit(entry(1, subject=user), entry(2, subject=user))
    store = SubjectStore.COMPLIANCE_AUDIT_LOG
    request_id = await open_request(user, store, Phase.ERASE)
    settings = get_settings()
    status = await run_step(
        get_engine(),
        Lake(settings),
        settings,
        HANDLERS,
        request_id=request_id,
        store=store,
        phase=Phase.ERASE,
    )
    assert status == "done"
    step = await rows(
        "SELECT status, counts FROM common.subject_request_steps WHERE request_id = :r",
        r=request_id,
    )
    assert step == [("done", {"audit_entries": 2})]
    assert await rows("SELECT 1 FROM compliance.audit_log WHERE subject = :u", u=user) == []


def test_the_step_task_is_registered() -> None:
    from services.compliance.subjects.tasks import subject_step

    assert subject_step.name == TaskName.COMPLIANCE_SUBJECT_STEP


@pytest.mark.parametrize("store", list(HANDLERS))
def test_handlers_are_this_services_stores(store: str) -> None:
    assert store.startswith("compliance.")
