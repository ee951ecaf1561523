"""Erasure and portability requests: the state machine (create, advance, describe, sweep).

An erasure goes: `collecting` (every store's handler gathers what it holds about the user,
so the scan later knows what to look for) -> the user's data key is destroyed and the
consent tombstone written, in one transaction -> `erasing` (every store's handler removes
it) -> `verifying` (a scan of the whole lake, Postgres and Redis; receipt.py) -> `done` with
a receipt whose hash is appended to the audit chain. Traces found send it back to `erasing`;
a store that fails shows as failed with its reason and is retried with backoff; nothing is
ever marked done without a clean scan.

A portability export goes `collecting` -> `done` (a sealed zip, downloadable through a
short-lived signed link) -> `expired` (the archive deleted). An erasure of the same user
closes it: an open export is `cancelled` when the erasure destroys the user's data key (its
own key goes too, so no step of it runs again), a done one `expired` when the erasure deletes
its archive; an export asked for once the user is being erased is refused (409).

Steps run in each service's worker (`<service>.subject_step`); they report back by sending
`compliance.subject_advance`, and the beat sweep resends what is due or was lost: steps not
finished in time, a phase whose steps are all done but whose advance never came (lost or
failed), and verifications not finished in time. What to send is a `Dispatch`
(dispatch.py), sent after the commit; the queries are in repository.py.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.consent import record_tombstone, tombstoned
from libs.common.contracts import SubjectStore
from libs.common.crypto import DataKeys, new_key, seal
from libs.common.errors import Conflict
from libs.common.lake import Lake
from libs.common.subject_rights import (
    Collected,
    OpenRequest,
    Phase,
    StepStatus,
    delete_request_files,
    open_request,
    part_path,
    read_part,
    store_part,
    write_part,
)
from libs.common.subjects import subject_key
from services.compliance.config import ComplianceSettings
from services.compliance.subject_requests import archive, metrics, repository
from services.compliance.subject_requests.dispatch import Dispatch
from services.compliance.verification.needles import needles_from

log = structlog.get_logger(__name__)


class Kind:
    ERASURE = "erasure"
    EXPORT = "export"


class Status:
    COLLECTING = "collecting"
    ERASING = "erasing"
    VERIFYING = "verifying"
    DONE = "done"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # closed before it finished; `last_error` says why


OPEN = (Status.COLLECTING, Status.ERASING, Status.VERIFYING)
TERMINAL = (Status.DONE, Status.EXPIRED, Status.CANCELLED)
CANCELLED_BY_ERASURE = "the user was erased (erasure {erasure_id}): there is nothing to export"
KEY_GONE = "the request's key is gone, so it cannot go on; ask again"


NEEDLES_PART = "needles"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    """What a request's work runs with."""

    engine: AsyncEngine
    lake: Lake
    settings: ComplianceSettings
    keys: DataKeys
    redis: Redis[bytes] | None = None  # the scan searches it


# --- create ----------------------------------------------------------------------------------
async def create(
    engine: AsyncEngine,
    settings: ComplianceSettings,
    keys: DataKeys,
    *,
    kind: str,
    user_id: str,
    actor: str,
) -> tuple[uuid.UUID, bool]:
    """A new request (or the open one of the same kind for this user); (id, created).

    An export of a user whose erasure has destroyed their data key (or is done) is refused:
    what it would collect is being removed. The subject lock, which the erasure's shred takes
    too, makes that check and the insert one step."""
    subject = subject_key(user_id, settings)
    async with engine.begin() as conn:
        await repository.lock_subject(conn, subject)
        if kind == Kind.EXPORT and await _being_erased(conn, subject):
            raise Conflict(
                "the user is being erased or was erased: there is nothing left to export",
                errors=[{"field": "user_id", "reason": "an erasure of this user has started"}],
            )
        existing = await repository.open_request_id(conn, subject, kind, OPEN)
        if existing is not None:
            return existing, False
        request_id = uuid.uuid4()
        key = new_key()
        at = now()
        await repository.insert_request(
            conn,
            id=request_id,
            kind=kind,
            s=subject,
            status=Status.COLLECTING,
            sealed=seal(key, user_id.encode(), b"user"),
            wrapped=keys.provider.wrap(key),
            actor=actor,
            now=at,
            deadline=at + timedelta(hours=settings.compliance_erasure_deadline_h),
            check=resend_at(settings),
        )
        await repository.add_steps(
            conn, request_id, Phase.COLLECT, settings.compliance_step_resend_s
        )
    return request_id, True


async def _being_erased(conn: AsyncConnection, subject: str) -> bool:
    """Whether the subject's data key was destroyed by an erasure (tombstone written)."""
    return bool(await tombstoned(conn, [subject]))


def resend_at(settings: ComplianceSettings) -> datetime:
    return now() + timedelta(seconds=settings.compliance_step_resend_s)


# --- advance ---------------------------------------------------------------------------------
async def advance(deps: Deps, request_id: uuid.UUID) -> Dispatch:
    """Move the request on if its current phase is complete; what to send next."""
    engine, lake, settings, keys = deps.engine, deps.lake, deps.settings, deps.keys
    async with engine.begin() as conn:
        status = await repository.status_for_update(conn, request_id)
        if status not in (Status.COLLECTING, Status.ERASING):
            return Dispatch(steps=[])
        phase = Phase.COLLECT if status == Status.COLLECTING else Phase.ERASE
        if not await repository.phase_done(conn, request_id, phase):
            return Dispatch(steps=[])
        request = await open_request(conn, request_id, keys)
        if request is None:  # its key is gone: close it rather than leave it stuck
            await _cancel(conn, request_id, KEY_GONE)
            log.warning("subject_request_key_gone", request_id=str(request_id))
            return Dispatch(steps=[])
        parts = tuple(part_path(request_id, store_part(s.value)) for s in SubjectStore)
        if request.kind == Kind.EXPORT:
            await _finish_export(conn, lake, settings, request)
            return Dispatch(steps=[], delete_paths=parts)
        if status == Status.COLLECTING:  # what was collected only serves the needles
            await _shred(conn, lake, settings, keys, request)
            return Dispatch(
                steps=[(s.value, Phase.ERASE) for s in SubjectStore], delete_paths=parts
            )
        await repository.set_status(
            conn, request_id, Status.VERIFYING, next_check_at=resend_at(settings)
        )
        return Dispatch(steps=[], verify=True)


async def _cancel(conn: AsyncConnection, request_id: uuid.UUID, reason: str) -> None:
    await repository.set_status(
        conn,
        request_id,
        Status.CANCELLED,  # no completed_at: the report counts an erasure so closed as failing
        last_error=reason,
        sealed_user=None,
        wrapped_key=None,
    )


def _collected(lake: Lake, request: OpenRequest) -> dict[str, Collected]:
    return {
        s.value: Collected.from_json(read_part(lake, request, store_part(s.value)))
        for s in SubjectStore
    }


async def _shred(
    conn: AsyncConnection,
    lake: Lake,
    settings: ComplianceSettings,
    keys: DataKeys,
    request: OpenRequest,
) -> None:
    """Needles kept (sealed) for the scan; then, atomically: the tombstone (late data is
    refused from here on) and the data key destroyed (every encrypted copy unreadable)."""
    parts = _collected(lake, request)
    needles = needles_from(
        parts.values(),
        subject_key=request.subject_key,
        user_id=request.user_id,
        min_sentence_chars=settings.compliance_min_sentence_chars,
    )
    write_part(lake, request, NEEDLES_PART, orjson.dumps(asdict(needles)))
    at = now()
    await repository.lock_subject(conn, request.subject_key)  # no export created meanwhile
    await repository.cancel_exports(
        conn, request.subject_key, OPEN, at, CANCELLED_BY_ERASURE.format(erasure_id=request.id)
    )
    # consent's contract (libs/common/consent.py): on this transaction, with the key's end
    await record_tombstone(conn, subject_key=request.subject_key, request_id=str(request.id), at=at)
    await keys.destroy(conn, request.subject_key)
    await repository.set_status(
        conn, request.id, Status.ERASING, key_destroyed_at=at, next_check_at=resend_at(settings)
    )
    await repository.add_steps(conn, request.id, Phase.ERASE, settings.compliance_step_resend_s)


async def _finish_export(
    conn: AsyncConnection, lake: Lake, settings: ComplianceSettings, request: OpenRequest
) -> None:
    parts = _collected(lake, request)
    path = archive.write(lake, request, parts)
    at = now()
    await repository.set_status(
        conn,
        request.id,
        Status.DONE,
        completed_at=at,
        archive_path=path,
        expires_at=at + timedelta(hours=settings.compliance_export_keep_h),
    )


# --- status ----------------------------------------------------------------------------------
async def describe(engine: AsyncEngine, request_id: uuid.UUID) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = await repository.summary(conn, request_id)
        if row is None:
            return None
        steps = await repository.steps(conn, request_id)
    info = dict(row._mapping)
    info["overdue"] = info["status"] in OPEN and info["deadline"] < now()
    info["steps"] = steps
    info["failed_stores"] = sorted({s["store"] for s in steps if s["status"] == StepStatus.FAILED})
    return info


# --- sweep -----------------------------------------------------------------------------------
async def sweep(
    engine: AsyncEngine, lake: Lake, settings: ComplianceSettings
) -> list[tuple[uuid.UUID, Dispatch]]:
    """Resend due steps (failed after their backoff, or sent and never finished), advance
    requests whose phase is complete but did not move on (the advance lost or failed),
    re-check stalled verifications, expire old archives, refresh the gauges."""
    out: list[tuple[uuid.UUID, Dispatch]] = []
    resend_s = settings.compliance_step_resend_s
    async with engine.begin() as conn:
        by_request: dict[uuid.UUID, list[tuple[str, str]]] = {}
        for request_id, store, phase in await repository.claim_due_steps(conn, resend_s, OPEN):
            by_request.setdefault(request_id, []).append((store, phase))
        out += [(r, Dispatch(steps=s)) for r, s in by_request.items()]
        unmoved = await repository.claim_unmoved(conn, resend_s)
        out += [(r, Dispatch(steps=[], advance=True)) for r in unmoved]
        stalled = await repository.claim_stalled_verifications(conn, resend_s)
        out += [(r, Dispatch(steps=[], verify=True)) for r in stalled]
        expired = await repository.expire_exports(conn)
        counts = await repository.open_counts(conn, OPEN)
        failed = await repository.failed_steps(conn)
    for request_id in expired:
        delete_request_files(lake, request_id)
    for kind in (Kind.ERASURE, Kind.EXPORT):
        row = next((c for c in counts if c.kind == kind), None)
        metrics.OPEN_REQUESTS.labels(kind=kind).set(row.open if row else 0)
        metrics.OVERDUE_REQUESTS.labels(kind=kind).set(row.overdue if row else 0)
    metrics.FAILED_STEPS.set(failed)
    return out
