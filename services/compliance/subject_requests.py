"""Erasure and portability requests: create, advance through their phases, verify, sweep.

An erasure goes: `collecting` (every store's handler gathers what it holds about the user,
so the scan later knows what to look for) -> the user's data key is destroyed and the
consent tombstone written, in one transaction -> `erasing` (every store's handler removes
it) -> `verifying` (a scan of the whole lake, Postgres and Redis) -> `done` with a receipt
whose hash is appended to the audit chain. Traces found send it back to `erasing`; a store
that fails shows as failed with its reason and is retried with backoff; nothing is ever
marked done without a clean scan.

A portability export goes `collecting` -> `done` (a sealed zip, downloadable through a
short-lived signed link) -> `expired` (the archive deleted). An erasure of the same user
closes it: an open export is `cancelled` when the erasure destroys the user's data key (its
own key goes too, so no step of it runs again), a done one `expired` when the erasure deletes
its archive; an export asked for once the user is being erased is refused (409).

Steps run in each service's worker (`<service>.subject_step`); they report back by sending
`compliance.subject_advance`, and the beat sweep resends what is due or was lost: steps not
finished in time, a phase whose steps are all done but whose advance never came (lost or
failed), and verifications not finished in time.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from celery import Celery
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.audit import AuditAction, AuditEntry, AuditPurpose, insert_outbox
from libs.common.consent import tombstoned
from libs.common.contracts import SubjectStore, TaskName, step_task_for
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
    request_prefix,
    retry_backoff_s,
    store_part,
    write_part,
)
from libs.common.subjects import subject_key
from services.compliance import archive
from services.compliance import subject_metrics as metrics
from services.compliance.config import ComplianceSettings
from services.compliance.needles import Needles, needles_from
from services.compliance.service import chain_pending
from services.compliance.trace_scan import scan

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
SUBJECT_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext('mindlake-subject-request'), hashtext(:s))"
)
CANCELLED_BY_ERASURE = "the user was erased (erasure {erasure_id}): there is nothing to export"
KEY_GONE = "the request's key is gone, so it cannot go on; ask again"


NEEDLES_PART = "needles"
REQUESTED_BY = text("SELECT requested_by FROM common.subject_requests WHERE id = :id")
RECEIPTS_PREFIX = "compliance/erasure-receipts"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    """What a request's work runs with."""

    engine: AsyncEngine
    lake: Lake
    settings: ComplianceSettings
    keys: DataKeys
    redis: Redis[bytes] | None = None  # the scan searches it


@dataclass(frozen=True)
class Dispatch:
    """Tasks to send once the transaction that decided them has committed."""

    steps: list[tuple[str, str]]  # (store, phase)
    verify: bool = False
    advance: bool = False  # its phase looks complete: look again (the sweep, for a lost one)
    delete_paths: tuple[str, ...] = ()  # lake objects no longer needed, deleted after commit


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
        await conn.execute(SUBJECT_LOCK, {"s": subject})
        if kind == Kind.EXPORT and await _being_erased(conn, subject):
            raise Conflict(
                "the user is being erased or was erased: there is nothing left to export",
                errors=[{"field": "user_id", "reason": "an erasure of this user has started"}],
            )
        existing = await conn.scalar(
            text(
                "SELECT id FROM common.subject_requests WHERE subject_key = :s AND kind = :k"
                " AND status = ANY(:open) ORDER BY created_at DESC LIMIT 1"
            ),
            {"s": subject, "k": kind, "open": list(OPEN)},
        )
        if existing is not None:
            return existing, False
        request_id = uuid.uuid4()
        key = new_key()
        now = _now()
        await conn.execute(
            text(
                """
                INSERT INTO common.subject_requests
                    (id, kind, subject_key, status, sealed_user, wrapped_key, requested_by,
                     created_at, deadline, verify_attempts, next_check_at)
                VALUES (:id, :kind, :s, :status, :sealed, :wrapped, :actor, :now, :deadline, 0,
                        :check)
                """
            ),
            {
                "id": request_id,
                "kind": kind,
                "s": subject,
                "status": Status.COLLECTING,
                "sealed": seal(key, user_id.encode(), b"user"),
                "wrapped": keys.provider.wrap(key),
                "actor": actor,
                "now": now,
                "deadline": now + timedelta(hours=settings.compliance_erasure_deadline_h),
                "check": _resend_at(settings),
            },
        )
        await _add_steps(conn, request_id, Phase.COLLECT, settings)
    return request_id, True


async def _being_erased(conn: AsyncConnection, subject: str) -> bool:
    """Whether the subject's data key was destroyed by an erasure (tombstone written)."""
    return bool(await tombstoned(conn, [subject]))


async def _add_steps(
    conn: AsyncConnection, request_id: uuid.UUID, phase: str, settings: ComplianceSettings
) -> None:
    """Every registered store gets a step; it is sent now, and again by the sweep if it has
    not finished when `next_attempt_at` comes."""
    stores = [s.value for s in SubjectStore]
    await conn.execute(
        text(
            """
            INSERT INTO common.subject_request_steps
                (request_id, store, phase, status, attempts, next_attempt_at, updated_at)
            SELECT :r, s, :p, 'pending', 0, now() + make_interval(secs => :resend), now()
            FROM unnest(CAST(:stores AS text[])) AS s
            ON CONFLICT DO NOTHING
            """
        ),
        {
            "r": request_id,
            "p": phase,
            "stores": stores,
            "resend": settings.compliance_step_resend_s,
        },
    )


def clean_up(lake: Lake, dispatch: Dispatch) -> None:
    for path in dispatch.delete_paths:
        if lake.exists(path):
            lake.delete(path)


def send(app: Celery, lake: Lake, request_id: uuid.UUID, dispatch: Dispatch) -> None:
    """After the commit: clean up, then send the next steps."""
    clean_up(lake, dispatch)
    for store, phase in dispatch.steps:
        app.send_task(step_task_for(store), args=[str(request_id), store, phase])
    if dispatch.verify:
        app.send_task(TaskName.COMPLIANCE_SUBJECT_VERIFY, args=[str(request_id)])
    if dispatch.advance:
        app.send_task(TaskName.COMPLIANCE_SUBJECT_ADVANCE, args=[str(request_id)])


def collect_dispatch() -> Dispatch:
    return Dispatch(steps=[(s.value, Phase.COLLECT) for s in SubjectStore])


# --- advance ---------------------------------------------------------------------------------
async def _phase_done(conn: AsyncConnection, request_id: uuid.UUID, phase: str) -> bool:
    left: int = await conn.scalar(
        text(
            "SELECT count(*) FROM common.subject_request_steps"
            " WHERE request_id = :r AND phase = :p AND status <> 'done'"
        ),
        {"r": request_id, "p": phase},
    )
    return left == 0


async def advance(deps: Deps, request_id: uuid.UUID) -> Dispatch:
    """Move the request on if its current phase is complete; what to send next."""
    engine, lake, settings, keys = deps.engine, deps.lake, deps.settings, deps.keys
    async with engine.begin() as conn:
        status = await conn.scalar(
            text("SELECT status FROM common.subject_requests WHERE id = :id FOR UPDATE"),
            {"id": request_id},
        )
        if status not in (Status.COLLECTING, Status.ERASING):
            return Dispatch(steps=[])
        phase = Phase.COLLECT if status == Status.COLLECTING else Phase.ERASE
        if not await _phase_done(conn, request_id, phase):
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
        await _set_status(conn, request_id, Status.VERIFYING, next_check_at=_resend_at(settings))
        return Dispatch(steps=[], verify=True)


async def _cancel(conn: AsyncConnection, request_id: uuid.UUID, reason: str) -> None:
    await _set_status(
        conn,
        request_id,
        Status.CANCELLED,  # no completed_at: the report counts an erasure so closed as failing
        last_error=reason,
        sealed_user=None,
        wrapped_key=None,
    )


async def _set_status(
    conn: AsyncConnection, request_id: uuid.UUID, status: str, **values: Any
) -> None:
    sets = "".join(f", {k} = :{k}" for k in values)
    await conn.execute(
        text(f"UPDATE common.subject_requests SET status = :status{sets} WHERE id = :id"),  # noqa: S608 - column names are ours
        {"status": status, "id": request_id, **values},
    )


def _resend_at(settings: ComplianceSettings) -> datetime:
    return _now() + timedelta(seconds=settings.compliance_step_resend_s)


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
    now = _now()
    await conn.execute(SUBJECT_LOCK, {"s": request.subject_key})  # no export created meanwhile
    await conn.execute(
        _CANCEL_EXPORTS,
        {
            "s": request.subject_key,
            "open": list(OPEN),
            "now": now,
            "e": CANCELLED_BY_ERASURE.format(erasure_id=request.id),
        },
    )
    await conn.execute(
        text(
            "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
            " VALUES (:s, :r, :now) ON CONFLICT (subject_key) DO NOTHING"
        ),
        {"s": request.subject_key, "r": str(request.id), "now": now},
    )
    await keys.destroy(conn, request.subject_key)
    await _set_status(
        conn, request.id, Status.ERASING, key_destroyed_at=now, next_check_at=_resend_at(settings)
    )
    await _add_steps(conn, request.id, Phase.ERASE, settings)


# The same user's open exports: they could only collect what is being erased, with a data key
# that is gone. Their keys go too, so a step of theirs still queued finds them gone; their
# lake objects are deleted by the erase phase (compliance.archives).
_CANCEL_EXPORTS = text(
    "UPDATE common.subject_requests SET status = 'cancelled', completed_at = :now,"
    " last_error = :e, sealed_user = NULL, wrapped_key = NULL"
    " WHERE kind = 'export' AND subject_key = :s AND status = ANY(:open)"
)


async def _finish_export(
    conn: AsyncConnection, lake: Lake, settings: ComplianceSettings, request: OpenRequest
) -> None:
    parts = _collected(lake, request)
    path = archive.write(lake, request, parts)
    now = _now()
    await _set_status(
        conn,
        request.id,
        Status.DONE,
        completed_at=now,
        archive_path=path,
        expires_at=now + timedelta(hours=settings.compliance_export_keep_h),
    )


# --- verify ----------------------------------------------------------------------------------
async def verify(deps: Deps, request_id: uuid.UUID) -> Dispatch:
    """Scan everything for the user; done with a receipt when clean, back to erasing if not."""
    async with deps.engine.connect() as lock_conn:
        got = await lock_conn.scalar(
            text("SELECT pg_try_advisory_lock(hashtext('mindlake-subject-verify'), hashtext(:r))"),
            {"r": str(request_id)},
        )
        if not got:
            return Dispatch(steps=[])  # another worker is verifying it
        try:
            return await _verify_locked(deps, request_id)
        finally:
            await lock_conn.execute(
                text(
                    "SELECT pg_advisory_unlock(hashtext('mindlake-subject-verify'), hashtext(:r))"
                ),
                {"r": str(request_id)},
            )


async def _verify_locked(deps: Deps, request_id: uuid.UUID) -> Dispatch:
    engine, lake, settings, keys = deps.engine, deps.lake, deps.settings, deps.keys
    assert deps.redis is not None
    async with engine.connect() as conn:
        request = await open_request(conn, request_id, keys)  # status and key in one read
        if request is None or request.status != Status.VERIFYING:
            return Dispatch(steps=[])  # done meanwhile, or unknown
        live_keys = await keys.all(conn)
    await chain_pending(engine, settings.compliance_chain_batch_rows)  # no entry left waiting
    needles = Needles(**orjson.loads(read_part(lake, request, NEEDLES_PART)))
    report = await scan(
        needles,
        lake=lake,
        engine=engine,
        redis=deps.redis,
        keys=live_keys,
        exclude_prefixes=(request_prefix(request_id),),
    )
    if not report.clean:
        where = sorted({key.where for key, _ in report.traces})
        reason = (
            f"{len(report.traces)} traces remain in {len(where)} places: {', '.join(where[:5])}"
            if where
            else f"the scan could not search everything: {'; '.join(report.errors[:3])}"
        )
        log.warning("erasure_traces_remain", request_id=str(request_id), traces=len(report.traces))
        async with engine.begin() as conn:
            attempts = await conn.scalar(
                text(
                    "UPDATE common.subject_requests SET status = :s, last_error = :e,"
                    " verify_attempts = verify_attempts + 1 WHERE id = :id"
                    " AND status = :verifying RETURNING verify_attempts"
                ),
                {
                    "s": Status.ERASING,
                    "e": reason[:2000],
                    "id": request_id,
                    "verifying": Status.VERIFYING,
                },
            )
            if attempts is None:
                return Dispatch(steps=[])  # no longer verifying
            backoff = retry_backoff_s(settings, int(attempts))
            await conn.execute(
                text(
                    "UPDATE common.subject_request_steps SET status = 'pending', error = NULL,"
                    " next_attempt_at = now() + make_interval(secs => :b), updated_at = now()"
                    " WHERE request_id = :r AND phase = 'erase'"
                ),
                {"r": request_id, "b": backoff},
            )
            await conn.execute(
                text(
                    "UPDATE common.subject_requests"
                    " SET next_check_at = now() + make_interval(secs => :b) WHERE id = :id"
                ),
                {"id": request_id, "b": backoff + settings.compliance_step_resend_s},
            )
        return Dispatch(steps=[])  # the sweep resends them when the backoff is over
    return await _complete_erasure(engine, lake, settings, request, report.to_dict())


async def _complete_erasure(
    engine: AsyncEngine,
    lake: Lake,
    settings: ComplianceSettings,
    request: OpenRequest,
    verification: dict[str, Any],
) -> Dispatch:
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                text("SELECT * FROM common.subject_requests WHERE id = :id FOR UPDATE"),
                {"id": request.id},
            )
        ).one()
        if row.status != Status.VERIFYING:
            return Dispatch(steps=[])
        steps = await _steps(conn, request.id)
        now = _now()
        receipt = {
            "kind": "erasure_receipt",
            "format": 1,
            "request_id": str(request.id),
            "subject_key": request.subject_key,
            "requested_at": row.created_at.isoformat(),
            "deadline": row.deadline.isoformat(),
            "key_destroyed_at": row.key_destroyed_at.isoformat() if row.key_destroyed_at else None,
            "completed_at": now.isoformat(),
            "duration_s": round((now - row.created_at).total_seconds(), 3),
            "tombstone": True,
            "stores": {
                s["store"]: {
                    "status": s["status"],
                    "attempts": s["attempts"],
                    "removed": s["counts"],
                }
                for s in steps
                if s["phase"] == Phase.ERASE
            },
            "verification": {**verification, "attempts": row.verify_attempts + 1},
        }
        body = orjson.dumps(receipt, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(body).hexdigest()
        lake.write_bytes(f"{RECEIPTS_PREFIX}/{request.id}.json", body)
        await _set_status(
            conn,
            request.id,
            Status.DONE,
            completed_at=now,
            receipt=body.decode(),
            sealed_user=None,
            wrapped_key=None,
            last_error=None,
            verify_attempts=row.verify_attempts + 1,
        )
        # The receipt's hash joins the audit chain, in the transaction that marks it done.
        await insert_outbox(
            conn,
            [
                AuditEntry(
                    actor=row.requested_by,
                    purpose=AuditPurpose.Admin,
                    action=AuditAction.Delete,
                    asset=f"erasure/{request.id}/receipt/sha256:{digest}",
                    subject=None,
                )
            ],
        )
    await chain_pending(engine, settings.compliance_chain_batch_rows)
    lake.delete(part_path(request.id, NEEDLES_PART))
    metrics.ERASURE_SECONDS.observe(receipt["duration_s"])
    return Dispatch(steps=[])


# --- status ----------------------------------------------------------------------------------
async def _steps(conn: AsyncConnection, request_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT store, phase, status, attempts, error, counts, next_attempt_at, updated_at"
            " FROM common.subject_request_steps WHERE request_id = :r ORDER BY phase, store"
        ),
        {"r": request_id},
    )
    return [dict(r._mapping) for r in rows]


async def describe(engine: AsyncEngine, request_id: uuid.UUID) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT id, kind, subject_key, status, requested_by, created_at, deadline,"
                    " key_destroyed_at, completed_at, verify_attempts, last_error, expires_at,"
                    " receipt IS NOT NULL AS has_receipt FROM common.subject_requests"
                    " WHERE id = :id"
                ),
                {"id": request_id},
            )
        ).one_or_none()
        if row is None:
            return None
        steps = await _steps(conn, request_id)
    info = dict(row._mapping)
    info["overdue"] = info["status"] in OPEN and info["deadline"] < _now()
    info["steps"] = steps
    info["failed_stores"] = sorted({s["store"] for s in steps if s["status"] == StepStatus.FAILED})
    return info


async def receipt(engine: AsyncEngine, request_id: uuid.UUID) -> tuple[str, dict[str, Any]] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT status, receipt FROM common.subject_requests WHERE id = :id"),
                {"id": request_id},
            )
        ).one_or_none()
    if row is None:
        return None
    return row.status, row.receipt


# --- sweep -----------------------------------------------------------------------------------
# Collecting or erasing, every step of the phase done, and no advance moved it on by its
# check time: its advance was lost (a worker died after the step) or failed.
_UNMOVED = text(
    """
    UPDATE common.subject_requests r
    SET next_check_at = now() + make_interval(secs => :resend)
    WHERE r.status IN ('collecting', 'erasing')
      AND (r.next_check_at IS NULL OR r.next_check_at <= now())
      AND NOT EXISTS (
          SELECT 1 FROM common.subject_request_steps st
          WHERE st.request_id = r.id AND st.status <> 'done'
            AND st.phase = CASE WHEN r.status = 'collecting' THEN 'collect' ELSE 'erase' END)
    RETURNING r.id
    """
)


async def sweep(
    engine: AsyncEngine, lake: Lake, settings: ComplianceSettings
) -> list[tuple[uuid.UUID, Dispatch]]:
    """Resend due steps (failed after their backoff, or sent and never finished), advance
    requests whose phase is complete but did not move on (the advance lost or failed),
    re-check stalled verifications, expire old archives, refresh the gauges."""
    out: list[tuple[uuid.UUID, Dispatch]] = []
    async with engine.begin() as conn:
        due = await conn.execute(
            text(
                """
                UPDATE common.subject_request_steps st
                SET next_attempt_at = now() + make_interval(secs => :resend), updated_at = now()
                FROM common.subject_requests r
                WHERE r.id = st.request_id AND r.status = ANY(:open)
                  AND st.status <> 'done' AND st.next_attempt_at <= now()
                  AND st.phase = CASE WHEN r.status = 'collecting' THEN 'collect' ELSE 'erase' END
                RETURNING st.request_id, st.store, st.phase
                """
            ),
            {"resend": settings.compliance_step_resend_s, "open": list(OPEN)},
        )
        by_request: dict[uuid.UUID, list[tuple[str, str]]] = {}
        for request_id, store, phase in due:
            by_request.setdefault(request_id, []).append((store, phase))
        out += [(r, Dispatch(steps=s)) for r, s in by_request.items()]
        unmoved = await conn.execute(_UNMOVED, {"resend": settings.compliance_step_resend_s})
        out += [(r, Dispatch(steps=[], advance=True)) for (r,) in unmoved]
        stalled = await conn.execute(
            text(
                "UPDATE common.subject_requests SET next_check_at = now()"
                " + make_interval(secs => :resend) WHERE status = 'verifying'"
                " AND next_check_at <= now() RETURNING id"
            ),
            {"resend": settings.compliance_step_resend_s},
        )
        out += [(r, Dispatch(steps=[], verify=True)) for (r,) in stalled]
        expired = (
            await conn.execute(
                text(
                    "UPDATE common.subject_requests SET status = 'expired', wrapped_key = NULL,"
                    " sealed_user = NULL WHERE kind = 'export' AND status = 'done'"
                    " AND expires_at <= now() RETURNING id"
                )
            )
        ).all()
        counts = (
            await conn.execute(
                text(
                    "SELECT kind, count(*) FILTER (WHERE status = ANY(:open)) AS open,"
                    " count(*) FILTER (WHERE status = ANY(:open) AND deadline < now()) AS overdue"
                    " FROM common.subject_requests GROUP BY kind"
                ),
                {"open": list(OPEN)},
            )
        ).all()
        failed = await conn.scalar(
            text("SELECT count(*) FROM common.subject_request_steps WHERE status = 'failed'")
        )
    for (request_id,) in expired:
        delete_request_files(lake, request_id)
    for kind in (Kind.ERASURE, Kind.EXPORT):
        row = next((c for c in counts if c.kind == kind), None)
        metrics.OPEN_REQUESTS.labels(kind=kind).set(row.open if row else 0)
        metrics.OVERDUE_REQUESTS.labels(kind=kind).set(row.overdue if row else 0)
    metrics.FAILED_STEPS.set(failed or 0)
    return out
