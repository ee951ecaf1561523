"""The erasure state machine in-process (the steps run here, not in workers): a failing store
shows as failed with its reason and is retried; traces found send the request back; a clean
scan gives the receipt, hashed into the audit chain. And the API's answers to bad input."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from libs.common.consent import can_use
from libs.common.contracts import SubjectStore
from libs.common.crypto import DataKeys
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.subject_rights import Collected, Phase, SubjectContext, run_step
from services.compliance.config import ComplianceSettings
from services.compliance.subject_requests import dispatch as request_dispatch
from services.compliance.subject_requests import receipt as request_receipt
from services.compliance.subject_requests import service as request_service
from services.compliance.subject_requests.service import Deps, Kind, Status
from tests.test_subject_stores import handlers as every_handler

pytestmark = pytest.mark.integration


class Flaky:
    """A store whose first erase fails with an error that names the user."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.tables, self.failures = inner, inner.tables, 0

    async def collect(self, ctx: SubjectContext) -> Collected:
        collected: Collected = await self.inner.collect(ctx)
        return collected

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        if self.failures == 0:
            self.failures += 1
            raise TimeoutError(f"the backup store timed out while erasing {ctx.user_id}")
        counts: dict[str, int] = await self.inner.erase(ctx)
        return counts


@pytest.fixture
async def deps(tmp_path: Path, redis_url: str, clean_audit: None) -> AsyncIterator[Deps]:
    settings = ComplianceSettings(
        lake_root=f"file://{tmp_path / 'lake'}", subject_retry_base_s=0, subject_retry_max_s=0
    )
    redis = Redis.from_url(redis_url)
    yield Deps(get_engine(), Lake(settings), settings, DataKeys(settings), redis)
    await redis.aclose()


async def run_phase(
    deps: Deps, handlers: dict[str, Any], request_id: uuid.UUID, phase: str
) -> None:
    for store in SubjectStore:
        await run_step(
            deps.engine, deps.lake, deps.settings, handlers,
            request_id=request_id, store=store.value, phase=phase,
        )  # fmt: skip


async def describe(deps: Deps, request_id: uuid.UUID) -> dict[str, Any]:
    info = await request_service.describe(deps.engine, request_id)
    assert info is not None
    return info


async def test_a_failing_store_is_retried_traces_send_it_back_and_a_clean_scan_is_done(
    deps: Deps,
) -> None:
    user = f"u_{uuid.uuid4().hex[:10]}"
    handlers: dict[str, Any] = every_handler()
    flaky = Flaky(handlers["consent.backups"])
    handlers["consent.backups"] = flaky
    request_id, created = await request_service.create(
        deps.engine, deps.settings, deps.keys, kind=Kind.ERASURE, user_id=user, actor="test"
    )
    assert created
    again, created = await request_service.create(
        deps.engine, deps.settings, deps.keys, kind=Kind.ERASURE, user_id=user, actor="test"
    )
    assert (again, created) == (request_id, False)

    await run_phase(deps, handlers, request_id, Phase.COLLECT)
    dispatch = await request_service.advance(deps, request_id)
    assert {phase for _, phase in dispatch.steps} == {Phase.ERASE}
    request_dispatch.clean_up(deps.lake, dispatch)  # what a worker does after the commit
    info = await describe(deps, request_id)
    assert info["status"] == Status.ERASING and info["key_destroyed_at"] is not None
    async with deps.engine.connect() as conn:
        assert await conn.scalar(
            text("SELECT count(*) FROM consent.tombstones WHERE subject_key = :s"),
            {"s": info["subject_key"]},
        )

    await run_phase(deps, handlers, request_id, Phase.ERASE)
    info = await describe(deps, request_id)
    assert info["failed_stores"] == ["consent.backups"]
    failed = next(s for s in info["steps"] if s["status"] == "failed")
    assert "TimeoutError" in failed["error"] and user not in failed["error"]
    assert (await request_service.advance(deps, request_id)).steps == []  # not done: waits
    assert (await describe(deps, request_id))["status"] == Status.ERASING

    # The sweep resends the failed step once its backoff is over (0 s here); then it passes.
    resent = await request_service.sweep(deps.engine, deps.lake, deps.settings)
    mine = [d.steps for r, d in resent if r == request_id]  # other tests' requests share the DB
    assert mine == [[("consent.backups", "erase")]]
    await run_step(
        deps.engine, deps.lake, deps.settings, handlers,
        request_id=request_id, store="consent.backups", phase=Phase.ERASE,
    )  # fmt: skip
    assert (await request_service.advance(deps, request_id)).verify

    # A copy nobody erased: the scan finds it and the request goes back to erasing.
    deps.lake.write_bytes("logs/app.log", f"login ok for {user}\n".encode())
    await request_receipt.verify(deps, request_id)
    info = await describe(deps, request_id)
    assert info["status"] == Status.ERASING and not info["has_receipt"]
    assert "lake:logs/app.log" in info["last_error"] and user not in info["last_error"]
    assert info["verify_attempts"] == 1

    deps.lake.delete("logs/app.log")
    async with deps.engine.begin() as conn:  # the backoff over at once
        await conn.execute(
            text(
                "UPDATE common.subject_request_steps SET next_attempt_at = now()"
                " WHERE request_id = :r"
            ),
            {"r": request_id},
        )
    resent = await request_service.sweep(deps.engine, deps.lake, deps.settings)
    mine = [d.steps for r, d in resent if r == request_id]
    assert len(mine) == 1 and len(mine[0]) == len(SubjectStore)
    await run_phase(deps, handlers, request_id, Phase.ERASE)
    assert (await request_service.advance(deps, request_id)).verify
    # Services keep checking consent for the user: the cache this writes is no trace of them.
    assert await can_use(user, "research") is False
    await request_receipt.verify(deps, request_id)

    info = await describe(deps, request_id)
    assert info["status"] == Status.DONE and info["has_receipt"]
    found = await request_receipt.receipt(deps.engine, request_id)
    assert found is not None
    receipt = found[1]
    assert receipt["verification"]["clean"] is True
    assert receipt["verification"]["attempts"] == 2
    assert receipt["stores"]["consent.backups"]["attempts"] == 3
    assert user not in str(receipt)
    stored = deps.lake.read_bytes(f"compliance/erasure-receipts/{request_id}.json")
    async with deps.engine.connect() as conn:
        sealed = (
            await conn.execute(
                text("SELECT sealed_user, wrapped_key FROM common.subject_requests WHERE id = :i"),
                {"i": request_id},
            )
        ).one()
        chained = await conn.scalar(
            text("SELECT asset FROM compliance.audit_log WHERE asset LIKE :a"),
            {"a": f"erasure/{request_id}/receipt/sha256:%"},
        )
    assert tuple(sealed) == (None, None)  # the request no longer knows whom it erased
    assert chained.endswith(hashlib.sha256(stored).hexdigest())
    assert deps.lake.list(f"subject-requests/{request_id}/") == []


# --- the API ---------------------------------------------------------------------------------
async def test_bad_input_gets_problem_json(admin: httpx.AsyncClient) -> None:
    reply = await admin.post("/v1/subjects/has space/erasure")
    assert reply.status_code == 422
    assert reply.headers["content-type"].startswith("application/problem+json")
    missing = uuid.uuid4()
    for path in (f"/v1/erasure/{missing}", f"/v1/erasure/{missing}/receipt",
                 f"/v1/subject-exports/{missing}"):  # fmt: skip
        reply = await admin.get(path)
        assert reply.status_code == 404, path
    reply = await admin.get("/v1/erasure/not-a-uuid")
    assert reply.status_code == 422
    reply = await admin.get(f"/v1/subject-exports/{missing}/download?expires=1&signature=00")
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == "signature"


async def test_only_admins_ask_for_erasure(auditor: httpx.AsyncClient) -> None:
    assert (await auditor.post("/v1/subjects/u_1/erasure")).status_code == 403
