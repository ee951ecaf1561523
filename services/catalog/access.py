"""Who may use the catalog, and the audit entry each use leaves: the key's scope checked, then
the caller's purpose and the asset read or written on the audit log (no subject: the catalog
holds no user data). The REST endpoints and GraphQL share it."""

from __future__ import annotations

from fastapi import Request

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, authenticate


async def record(
    request: Request,
    principal: Principal,
    *,
    action: AuditAction,
    asset: str,
    purpose: AuditPurpose = AuditPurpose.Admin,
) -> None:
    await audit(entry_from_request(request, principal, purpose=purpose, action=action,
                                   asset=asset, subject=None))  # fmt: skip


async def caller(
    request: Request,
    scope: str,
    *,
    action: AuditAction,
    asset: str,
    purpose: AuditPurpose = AuditPurpose.Admin,
) -> Principal:
    """The caller, if its key has `scope` (or admin), with its use on the audit log."""
    principal = await authenticate(request, scope)
    await record(request, principal, action=action, asset=asset, purpose=purpose)
    return principal
