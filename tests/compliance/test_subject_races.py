"""Erasure and portability requests under concurrency (issue 10, item 3): an erasure closes the
same user's exports cleanly, an advance never trips on a request whose key is gone, the sweep
moves on a request whose advance was lost, and 200 requests at once all end.

The state machine runs in-process against real Postgres, Redis and a lake folder: steps,
advances and verifications are the task bodies' functions, run concurrently by a few
coroutines, in a seeded random order, with some advances dropped as a dying worker would.
Nothing waits on time: the driver runs until no work is left and the sweep finds nothing due.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from libs.common.contracts import SubjectStore
from libs.common.crypto import DataKeys
from libs.common.db import get_engine
from libs.common.errors import Conflict
from libs.common.lake import Lake
from libs.common.subject_rights import Phase, run_step
from services.compliance.config import ComplianceSettings
from services.compliance.subject_requests import dispatch as request_dispatch
from services.compliance.subject_requests import receipt as request_receipt
from services.compliance.subject_requests import service as request_service
from services.compliance.subject_requests.dispatch import Dispatch
from services.compliance.subject_requests.service import Deps, Kind, Status
from tests.test_subject_stores import handlers as every_handler

pytestmark = pytest.mark.integration


@pytest.fixture
async def deps(tmp_path: Path, redis_url: str, clean_audit: None) -> AsyncIterator[Deps]:
    # resend 0: whatever is not finished is due at once (the sweep's timing is not under test)
    settings = ComplianceSettings(
        lake_root=f"file://{tmp_path / 'lake'}",
        subject_retry_base_s=0,
        subject_retry_max_s=0,
        compliance_step_resend_s=0,
    )
    redis = Redis.from_url(redis_url)
    yield Deps(get_engine(), Lake(settings), settings, DataKeys(settings), redis)
    await redis.aclose()


async def step(deps: Deps, request_id: uuid.UUID, store: str, phase: str) -> str:
    return await run_step(
        deps.engine, deps.lake, deps.settings, HANDLERS,
        request_id=request_id, store=store, phase=phase,
    )  # fmt: skip


async def run_phase(deps: Deps, request_id: uuid.UUID, phase: str) -> list[str]:
    return [await step(deps, request_id, s.value, phase) for s in SubjectStore]


async def create(deps: Deps, kind: str, user: str) -> uuid.UUID:
    request_id, _ = await request_service.create(
        deps.engine, deps.settings, deps.keys, kind=kind, user_id=user, actor="test"
    )
    return request_id


async def row(deps: Deps, request_id: uuid.UUID) -> Any:
    async with deps.engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT status, last_error, sealed_user, wrapped_key, archive_path"
                    " FROM common.subject_requests WHERE id = :id"
                ),
                {"id": request_id},
            )
        ).one()


async def advance(deps: Deps, request_id: uuid.UUID) -> Dispatch:
    dispatch = await request_service.advance(deps, request_id)
    request_dispatch.clean_up(deps.lake, dispatch)  # what the task does after the commit
    return dispatch


async def erase_fully(deps: Deps, user: str) -> uuid.UUID:
    erasure = await create(deps, Kind.ERASURE, user)
    await run_phase(deps, erasure, Phase.COLLECT)
    assert {p for _, p in (await advance(deps, erasure)).steps} == {Phase.ERASE}
    await run_phase(deps, erasure, Phase.ERASE)
    assert (await advance(deps, erasure)).verify
    await request_receipt.verify(deps, erasure)
    assert (await row(deps, erasure)).status == Status.DONE
    return erasure


HANDLERS: dict[str, Any] = every_handler()


# --- the interleaving that left exports stuck ------------------------------------------------
async def test_an_erasure_during_an_export_closes_it_and_its_advance_returns_cleanly(
    deps: Deps,
) -> None:
    user = f"u_{uuid.uuid4().hex[:10]}"
    export = await create(deps, Kind.EXPORT, user)
    await run_phase(deps, export, Phase.COLLECT)  # every step done; its advance not yet run

    erasure = await create(deps, Kind.ERASURE, user)
    await run_phase(deps, erasure, Phase.COLLECT)
    await advance(deps, erasure)  # the shred: data key destroyed, the open export closed
    closed = await row(deps, export)
    assert closed.status == Status.CANCELLED
    assert str(erasure) in closed.last_error and user not in closed.last_error
    assert (closed.sealed_user, closed.wrapped_key) == (None, None)

    # The export's late advance (was: AssertionError on `request is not None`).
    assert await advance(deps, export) == Dispatch(steps=[])
    assert (await row(deps, export)).status == Status.CANCELLED
    # Its parts are deleted by the erase phase; the erasure itself finishes.
    await run_phase(deps, erasure, Phase.ERASE)
    assert deps.lake.list(f"subject-requests/{export}/") == []
    assert (await advance(deps, erasure)).verify
    await request_receipt.verify(deps, erasure)
    assert (await row(deps, erasure)).status == Status.DONE

    # An export asked for after the erasure: refused, with the reason.
    with pytest.raises(Conflict) as refused:
        await create(deps, Kind.EXPORT, user)
    assert refused.value.errors[0]["field"] == "user_id"


async def test_an_export_with_steps_still_queued_when_the_erasure_shreds_stops_cleanly(
    deps: Deps,
) -> None:
    user = f"u_{uuid.uuid4().hex[:10]}"
    export = await create(deps, Kind.EXPORT, user)
    stores = [s.value for s in SubjectStore]
    await step(deps, export, stores[0], Phase.COLLECT)  # the rest still in the queue

    erasure = await create(deps, Kind.ERASURE, user)
    await run_phase(deps, erasure, Phase.COLLECT)
    await advance(deps, erasure)
    for store in stores[1:]:  # the queued steps find the request gone; nothing runs
        assert await step(deps, export, store, Phase.COLLECT) == "gone"
    assert await advance(deps, export) == Dispatch(steps=[])
    assert (await row(deps, export)).status == Status.CANCELLED
    # Nothing to resend: a cancelled request is not open.
    due = await request_service.sweep(deps.engine, deps.lake, deps.settings)
    assert export not in {r for r, _ in due}


async def test_an_erasure_after_a_finished_export_deletes_its_archive_and_expires_it(
    deps: Deps,
) -> None:
    user = f"u_{uuid.uuid4().hex[:10]}"
    export = await create(deps, Kind.EXPORT, user)
    await run_phase(deps, export, Phase.COLLECT)
    await advance(deps, export)
    done = await row(deps, export)
    assert done.status == Status.DONE and done.archive_path is not None

    await erase_fully(deps, user)
    expired = await row(deps, export)
    assert expired.status == Status.EXPIRED
    assert (expired.archive_path, expired.sealed_user, expired.wrapped_key) == (None, None, None)
    assert deps.lake.list(f"subject-requests/{export}/") == []


# --- the sweep recovers what stopped advancing -----------------------------------------------
@pytest.mark.parametrize("kind", [Kind.EXPORT, Kind.ERASURE])
async def test_the_sweep_advances_a_request_whose_advance_was_lost(deps: Deps, kind: str) -> None:
    user = f"u_{uuid.uuid4().hex[:10]}"
    request_id = await create(deps, kind, user)
    await run_phase(deps, request_id, Phase.COLLECT)  # the advances these send: lost

    due = [d for r, d in await request_service.sweep(deps.engine, deps.lake, deps.settings)
           if r == request_id]  # fmt: skip
    assert due == [Dispatch(steps=[], advance=True)]
    dispatch = await advance(deps, request_id)
    if kind == Kind.EXPORT:
        assert (await row(deps, request_id)).status == Status.DONE
        return
    assert (await row(deps, request_id)).status == Status.ERASING
    assert {p for _, p in dispatch.steps} == {Phase.ERASE}
    await run_phase(deps, request_id, Phase.ERASE)  # and the erase phase's advance lost too
    due = [d for r, d in await request_service.sweep(deps.engine, deps.lake, deps.settings)
           if r == request_id]  # fmt: skip
    assert due == [Dispatch(steps=[], advance=True)]
    assert (await advance(deps, request_id)).verify
    assert (await row(deps, request_id)).status == Status.VERIFYING


async def test_the_sweep_leaves_a_request_whose_phase_is_not_done_to_its_steps(
    deps: Deps,
) -> None:
    request_id = await create(deps, Kind.EXPORT, f"u_{uuid.uuid4().hex[:10]}")
    await step(deps, request_id, SubjectStore.COMPLIANCE_ARCHIVES.value, Phase.COLLECT)
    due = [d for r, d in await request_service.sweep(deps.engine, deps.lake, deps.settings)
           if r == request_id]  # fmt: skip
    assert len(due) == 1 and not due[0].advance
    assert {s for s, _ in due[0].steps} == {s.value for s in SubjectStore} - {
        SubjectStore.COMPLIANCE_ARCHIVES.value
    }


# --- 200 at once -----------------------------------------------------------------------------
class Driver:
    """Runs requests' work the way the workers would, several at once, in a random order,
    losing some advances; the sweep then resends what is due, until nothing is left."""

    def __init__(self, deps: Deps, seed: int, lose_advance: float) -> None:
        self.deps, self.rng, self.lose = deps, random.Random(seed), lose_advance
        self.work: list[tuple[Any, ...]] = []
        self.ids: dict[int, uuid.UUID] = {}  # which request each ask got
        self.refused: set[int] = set()
        self.failures: list[str] = []

    def dispatch(self, request_id: uuid.UUID, dispatch: Dispatch) -> None:
        request_dispatch.clean_up(self.deps.lake, dispatch)
        self.work += [("step", request_id, s, p) for s, p in dispatch.steps]
        if dispatch.verify:
            self.work.append(("verify", request_id))
        if dispatch.advance:
            self.work.append(("advance", request_id))

    async def one(self, item: tuple[Any, ...]) -> None:
        deps = self.deps
        match item:
            case ("ask", n, kind, user):
                try:
                    request_id, created = await request_service.create(
                        deps.engine, deps.settings, deps.keys, kind=kind, user_id=user, actor="t"
                    )
                except Conflict:
                    self.refused.add(n)
                    return
                self.ids[n] = request_id
                if created:
                    self.dispatch(request_id, request_dispatch.collect_dispatch())
            case ("step", request_id, store, phase):
                await step(deps, request_id, store, phase)
                if self.rng.random() >= self.lose:  # else the worker died before sending
                    self.work.append(("advance", request_id))
            case ("advance", request_id):
                self.dispatch(request_id, await request_service.advance(deps, request_id))
            case ("verify", request_id):
                self.dispatch(request_id, await request_receipt.verify(deps, request_id))

    async def worker(self) -> None:
        while self.work:
            item = self.work.pop(self.rng.randrange(len(self.work)))
            try:
                await self.one(item)
            except Exception as exc:  # a task that raises: recorded, the test fails on it
                self.failures.append(f"{item[0]}: {type(exc).__name__}: {exc}")

    async def drain(self, concurrency: int) -> None:
        await asyncio.gather(*(self.worker() for _ in range(concurrency)))

    async def sweep(self) -> int:
        mine = set(self.ids.values())
        found = await request_service.sweep(self.deps.engine, self.deps.lake, self.deps.settings)
        due = [(r, d) for r, d in found if r in mine]
        for request_id, dispatch in due:
            self.dispatch(request_id, dispatch)
        return len(due)


async def test_200_concurrent_exports_and_erasures_of_overlapping_users_all_end(
    deps: Deps,
) -> None:
    run = uuid.uuid4().hex[:8]
    users = [f"c{run}-{i:02d}" for i in range(40)]
    driver = Driver(deps, seed=10, lose_advance=0.1)
    rng = random.Random(3)
    asks = [
        ("ask", n, Kind.ERASURE if rng.random() < 0.3 else Kind.EXPORT, rng.choice(users))
        for n in range(200)
    ]
    driver.work = list(asks)  # the asks arrive among the work they cause
    for _ in range(30):  # rounds of: drain, then the sweep resends what is due
        await driver.drain(concurrency=8)
        if not await driver.sweep():
            break
    assert driver.failures == []

    assert set(driver.ids) | driver.refused == set(range(200))
    async with deps.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, kind, subject_key, status, sealed_user IS NOT NULL AS sealed"
                    " FROM common.subject_requests WHERE id = ANY(:ids)"
                ),
                {"ids": list(set(driver.ids.values()))},
            )
        ).all()
    statuses = {r.status for r in rows}
    assert statuses <= {Status.DONE, Status.EXPIRED, Status.CANCELLED}, statuses
    assert all(r.status == Status.DONE for r in rows if r.kind == Kind.ERASURE)
    erased = {r.subject_key for r in rows if r.kind == Kind.ERASURE}
    # No export of an erased user can still be opened: cancelled, expired, or keyless.
    assert not [r for r in rows if r.kind == Kind.EXPORT and r.subject_key in erased and r.sealed]
    assert {Kind.ERASURE, Kind.EXPORT} == {r.kind for r in rows}
    # The interleavings happened: exports closed by an erasure, and one refused after it.
    assert Status.CANCELLED in statuses or Status.EXPIRED in statuses
