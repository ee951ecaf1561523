"""The consent API: thin routers. Writes need an admin key; reads also accept `audit:read`."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AfterValidator

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.consent import checker
from libs.common.contracts import ConsentPurpose
from libs.common.db import session_maker
from libs.common.errors import PayloadTooLarge
from libs.common.validation import PgBigInt
from services.consent.config import get_consent_settings
from services.consent.ledger import events, service
from services.consent.ledger.models import LedgerEntry
from services.consent.ledger.schemas import (
    USER_ID_PATTERN,
    BulkCheck,
    BulkCheckReply,
    CheckReply,
    ConsentChange,
    ConsentState,
    HistoryPage,
    RevokeAll,
    opaque,
)
from services.consent.worker import celery_app

router = APIRouter(prefix="/v1/consent", tags=["consent"])

Reader = Annotated[Principal, require_scope(Scope.AUDIT_READ)]
Admin = Annotated[Principal, require_scope(Scope.ADMIN)]
UserIdPath = Annotated[
    str,
    Path(pattern=USER_ID_PATTERN, description="The user id, as sent to ingest (opaque)"),
    AfterValidator(opaque),
]


async def _audit(
    request: Request, principal: Principal, action: AuditAction, subject: str | None, asset: str
) -> None:
    await audit(
        entry_from_request(
            request,
            principal,
            purpose=AuditPurpose.Admin,
            action=action,
            asset=asset,
            subject=subject,
        )
    )


@router.get("/{user_id}", summary="A user's current consent, every purpose")
async def get_consent(request: Request, user_id: UserIdPath, principal: Reader) -> ConsentState:
    async with session_maker()() as session:
        reply = await service.state(session=session, user_id=user_id)
    await _audit(request, principal, AuditAction.Read, user_id, "consent/state")
    return reply


@router.put("/{user_id}", summary="Grant or withdraw some purposes")
async def put_consent(
    request: Request, user_id: UserIdPath, change: ConsentChange, principal: Admin
) -> ConsentState:
    async with session_maker()() as session, session.begin():
        entries = await service.record(
            session=session, user_id=user_id, change=change, actor_key_id=principal.key_id
        )
    return await _after_change(request, principal, user_id, entries)


@router.post("/{user_id}/revoke-all", summary="Withdraw every purpose the user granted")
async def revoke_all(
    request: Request, user_id: UserIdPath, principal: Admin, body: RevokeAll | None = None
) -> ConsentState:
    async with session_maker()() as session, session.begin():
        entries = await service.revoke_all(
            session=session,
            user_id=user_id,
            body=body or RevokeAll(),
            actor_key_id=principal.key_id,
        )
    return await _after_change(request, principal, user_id, entries)


async def _after_change(
    request: Request, principal: Principal, user_id: str, entries: list[LedgerEntry]
) -> ConsentState:
    if entries:  # a revoke-all with nothing granted changes nothing: no event
        settings = get_consent_settings()
        await events.after_commit(
            celery_app, user_id, entries, expires_s=settings.celery_task_expires_s
        )
    await _audit(request, principal, AuditAction.Write, user_id, "consent/ledger")
    async with session_maker()() as session:
        return await service.state(session=session, user_id=user_id)


@router.get("/{user_id}/check", summary="Whether the user consents to one purpose now")
async def check(
    request: Request, user_id: UserIdPath, purpose: ConsentPurpose, principal: Reader
) -> CheckReply:
    async with session_maker()() as session:
        reply = await service.check(session=session, user_id=user_id, purpose=purpose)
    await _audit(request, principal, AuditAction.Read, user_id, f"consent/check/{purpose}")
    return reply


@router.get("/{user_id}/history", summary="The user's ledger entries, oldest first")
async def history(
    request: Request,
    user_id: UserIdPath,
    principal: Reader,
    after_id: Annotated[PgBigInt, Query(description="Continue after this entry id")] = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> HistoryPage:
    cap = get_consent_settings().consent_history_max_rows
    size = min(limit or cap, cap)
    async with session_maker()() as session:
        entries = await service.history(
            session=session, user_id=user_id, after_id=after_id, limit=size
        )
    await _audit(request, principal, AuditAction.Read, user_id, "consent/history")
    return HistoryPage(
        user_id=user_id,
        entries=entries,
        next_after_id=entries[-1].id if len(entries) == size else None,
    )


@router.post(
    "/check", summary="Which of many users consent to one purpose", response_model=BulkCheckReply
)
async def bulk_check(request: Request, body: BulkCheck, principal: Reader) -> Response:
    cap = get_consent_settings().consent_bulk_max_ids
    if len(body.user_ids) > cap:
        raise PayloadTooLarge(
            f"at most {cap} user ids per request",
            errors=[{"field": "user_ids", "reason": f"more than {cap} ids"}],
        )
    ids = list(dict.fromkeys(body.user_ids))
    allowed = await checker.allowed(ids, body.purpose)  # one query, never the cache
    # One entry for the whole check: the subjects are many, the access is one.
    await _audit(request, principal, AuditAction.Read, None, f"consent/bulk-check/{body.purpose}")
    reply = {"purpose": body.purpose.value, "checked": len(ids), "allowed": sorted(allowed)}
    return Response(orjson.dumps(reply), media_type="application/json")
