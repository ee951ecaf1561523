"""An erasure's verification and receipt: scan everything for the user; done with a receipt
(its hash appended to the audit chain) when clean, back to erasing if not."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.audit import AuditAction, AuditEntry, AuditPurpose, insert_outbox
from libs.common.catalog import asset_written
from libs.common.lake import Lake
from libs.common.subject_rights import (
    OpenRequest,
    Phase,
    open_request,
    part_path,
    read_part,
    request_prefix,
    retry_backoff_s,
)
from services.compliance.audit.service import chain_pending
from services.compliance.config import ComplianceSettings
from services.compliance.subject_requests import metrics, repository
from services.compliance.subject_requests.dispatch import Dispatch
from services.compliance.subject_requests.service import NEEDLES_PART, Deps, Status, now
from services.compliance.verification.needles import Needles
from services.compliance.verification.scan import scan

log = structlog.get_logger(__name__)

RECEIPTS_PREFIX = "compliance/erasure-receipts"


async def verify(deps: Deps, request_id: uuid.UUID) -> Dispatch:
    """Scan everything for the user; done with a receipt when clean, back to erasing if not."""
    async with deps.engine.connect() as lock_conn:
        got = await lock_conn.scalar(repository.VERIFY_LOCK, {"r": str(request_id)})
        if not got:
            return Dispatch(steps=[])  # another worker is verifying it
        try:
            return await _verify_locked(deps, request_id)
        finally:
            await lock_conn.execute(repository.VERIFY_UNLOCK, {"r": str(request_id)})


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
            attempts = await repository.back_to_erasing(
                conn,
                request_id,
                erasing=Status.ERASING,
                verifying=Status.VERIFYING,
                error=reason[:2000],
            )
            if attempts is None:
                return Dispatch(steps=[])  # no longer verifying
            backoff = retry_backoff_s(settings, int(attempts))
            await repository.retry_erase_steps(
                conn, request_id, backoff, backoff + settings.compliance_step_resend_s
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
        row = await repository.request_for_update(conn, request.id)
        if row.status != Status.VERIFYING:
            return Dispatch(steps=[])
        steps = await repository.steps(conn, request.id)
        at = now()
        receipt = {
            "kind": "erasure_receipt",
            "format": 1,
            "request_id": str(request.id),
            "subject_key": request.subject_key,
            "requested_at": row.created_at.isoformat(),
            "deadline": row.deadline.isoformat(),
            "key_destroyed_at": row.key_destroyed_at.isoformat() if row.key_destroyed_at else None,
            "completed_at": at.isoformat(),
            "duration_s": round((at - row.created_at).total_seconds(), 3),
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
        await repository.set_status(
            conn,
            request.id,
            Status.DONE,
            completed_at=at,
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
    asset_written(RECEIPTS_PREFIX, service="compliance")  # after the commit marking it done
    await chain_pending(engine, settings.compliance_chain_batch_rows)
    lake.delete(part_path(request.id, NEEDLES_PART))
    metrics.ERASURE_SECONDS.observe(receipt["duration_s"])
    return Dispatch(steps=[])


async def receipt(engine: AsyncEngine, request_id: uuid.UUID) -> tuple[str, dict[str, Any]] | None:
    """The request's status and its receipt (None until it is done); None if unknown."""
    async with engine.connect() as conn:
        row = await repository.status_and_receipt(conn, request_id)
    if row is None:
        return None
    return row.status, row.receipt
