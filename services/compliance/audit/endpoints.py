"""The audit log API: query (redacted by the reader's purpose), verify, chain now."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.db import get_engine
from libs.common.errors import ServiceError
from libs.common.validation import PgText
from services.compliance.audit import repository, service
from services.compliance.audit.schemas import AuditEntryOut, AuditPage, ChainOut, VerifyOut
from services.compliance.config import get_compliance_settings

router = APIRouter(prefix="/v1/audit", tags=["audit log"])
AuditReader = Annotated[Principal, require_scope(Scope.AUDIT_READ)]
AdminPrincipal = Annotated[Principal, require_scope(Scope.ADMIN)]
ASSET = "compliance.audit_log"


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    # ASCII digits only: str.isdigit() also takes superscripts and other scripts digits.
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise ServiceError(
            "the cursor is malformed",
            errors=[{"field": "cursor", "reason": "use the next_cursor of a previous page"}],
        )
    return int(cursor)


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get("", response_model=AuditPage)
async def list_entries(
    *,
    request: Request,
    principal: AuditReader,
    purpose: Annotated[AuditPurpose, Query(description="Why you read: decides what is redacted")],
    subject: Annotated[PgText | None, Query(max_length=200)] = None,
    actor: Annotated[PgText | None, Query(max_length=64)] = None,
    entry_purpose: Annotated[
        AuditPurpose | None, Query(description="Only entries recorded with this purpose")
    ] = None,
    action: AuditAction | None = None,
    since: Annotated[datetime | None, Query(description="Entries at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Entries before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    cursor: str | None = None,
) -> AuditPage:
    settings = get_compliance_settings()
    errors = []
    if limit > settings.compliance_audit_page_max:
        errors.append({"field": "limit", "reason": f"at most {settings.compliance_audit_page_max}"})
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        errors.append({"field": "since", "reason": "must be before `until`"})
    if subject is not None and purpose in service.ANONYMOUS_READERS:
        # The reader may not see user ids, so may not single one out either.
        errors.append({"field": "subject", "reason": f"not allowed for purpose {purpose}"})
    if errors:
        raise ServiceError("the query is invalid", errors=errors)
    where = repository.LogFilter(
        subject=subject,
        actor=actor,
        purpose=None if entry_purpose is None else entry_purpose.value,
        action=None if action is None else action.value,
        since=since,
        until=until,
    )
    page = await service.read_log(get_engine(), where, purpose, cursor=_cursor(cursor), limit=limit)
    await audit(
        entry_from_request(
            request,
            principal,
            purpose=purpose,
            action=AuditAction.Read,
            asset=ASSET,
            subject=subject,
        )
    )
    return AuditPage(
        items=[AuditEntryOut(**asdict(item)) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/verify", response_model=VerifyOut)
async def verify(request: Request, principal: AuditReader) -> VerifyOut:
    """Walk the whole chain; `ok`, or the first broken link (altered, removed or cut off)."""
    settings = get_compliance_settings()
    report = await service.verify_chain(get_engine(), settings.compliance_verify_page_rows)
    await audit(
        entry_from_request(
            request,
            principal,
            purpose=AuditPurpose.Admin,
            action=AuditAction.Read,
            asset=f"{ASSET}/verify",
            subject=None,
        )
    )
    return VerifyOut.model_validate(asdict(report))


@router.post("/chain", response_model=ChainOut)
async def chain_now(request: Request, principal: AdminPrincipal) -> ChainOut:
    """Admin: chain every pending outbox entry now instead of waiting for the beat."""
    await audit(
        entry_from_request(
            request,
            principal,
            purpose=AuditPurpose.Admin,
            action=AuditAction.Write,
            asset=f"{ASSET}/chain",
            subject=None,
        )
    )
    settings = get_compliance_settings()
    return ChainOut(
        chained=await service.chain_pending(get_engine(), settings.compliance_chain_batch_rows)
    )
