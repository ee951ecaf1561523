"""The user's rights over their data: erasure (with a receipt) and portability (an archive).

Called by the platform's backend on the user's behalf, with an admin key.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from libs.common.audit import AuditAction, AuditEntry, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.crypto import get_data_keys
from libs.common.db import get_engine
from libs.common.errors import NotFound, ServiceError
from libs.common.lake import get_lake
from libs.common.subject_rights import open_request
from services.compliance.config import get_compliance_settings
from services.compliance.subject_requests import archive, dispatch, receipt, repository, service
from services.compliance.subject_requests.dispatch import Dispatch, collect_dispatch
from services.compliance.subject_requests.service import Kind, Status
from services.compliance.worker import celery_app

router = APIRouter(prefix="/v1", tags=["subject rights"])
Admin = Annotated[Principal, require_scope(Scope.ADMIN)]
UserIdPath = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$",
        description="The user id, as sent to ingest",
    ),
]


async def _send(request_id: uuid.UUID, next_tasks: Dispatch) -> None:
    lake = get_lake()
    expires_s = get_compliance_settings().celery_task_expires_s
    await anyio.to_thread.run_sync(
        lambda: dispatch.send(celery_app, lake, request_id, next_tasks, expires_s=expires_s)
    )


async def _create(kind: str, user_id: str, principal: Principal) -> tuple[uuid.UUID, bool]:
    request_id, created = await service.create(
        get_engine(),
        get_compliance_settings(),
        get_data_keys(),
        kind=kind,
        user_id=user_id,
        actor=principal.key_id,
    )
    if created:
        await _send(request_id, collect_dispatch())
    return request_id, created


def _accepted(request_id: uuid.UUID, kind: str, created: bool, status_url: str) -> JSONResponse:
    return JSONResponse(
        {"request_id": str(request_id), "kind": kind, "created": created, "status_url": status_url},
        status_code=202,
        headers={"Location": status_url},
    )


async def _describe(request_id: uuid.UUID, kind: str) -> dict[str, Any]:
    info = await service.describe(get_engine(), request_id)
    if info is None or info["kind"] != kind:
        raise NotFound(f"no {kind} request {request_id}")
    return info


# --- erasure ---------------------------------------------------------------------------------
@router.post("/subjects/{user_id}/erasure", status_code=202, summary="Erase a user everywhere")
async def request_erasure(request: Request, user_id: UserIdPath, principal: Admin) -> JSONResponse:
    """Starts (or returns the open) erasure of the user: every store, then a verifying scan."""
    request_id, created = await _create(Kind.ERASURE, user_id, principal)
    # No user id in the entry: the audit log must not outlive the erasure with it.
    await audit(
        entry_from_request(
            request,
            principal,
            purpose=AuditPurpose.Admin,
            action=AuditAction.Delete,
            asset=f"erasure/{request_id}",
            subject=None,
        )
    )
    return _accepted(request_id, Kind.ERASURE, created, f"/v1/erasure/{request_id}")


@router.get("/erasure/{request_id}", summary="An erasure's progress, store by store")
async def erasure_status(request_id: uuid.UUID, principal: Admin) -> dict[str, Any]:
    return await _describe(request_id, Kind.ERASURE)


@router.get("/erasure/{request_id}/receipt", summary="The receipt of a finished erasure")
async def erasure_receipt(request_id: uuid.UUID, principal: Admin) -> dict[str, Any]:
    found = await receipt.receipt(get_engine(), request_id)
    if found is None:
        raise NotFound(f"no erasure request {request_id}")
    status, body = found
    if body is None:
        raise ServiceError(
            "the erasure is not finished; its receipt is written once the scan finds no trace",
            errors=[{"field": "request_id", "reason": f"status is {status}"}],
        )
    return body


# --- portability -----------------------------------------------------------------------------
@router.post(
    "/subjects/{user_id}/export", status_code=202, summary="Export everything held about a user"
)
async def request_export(request: Request, user_id: UserIdPath, principal: Admin) -> JSONResponse:
    request_id, created = await _create(Kind.EXPORT, user_id, principal)
    await audit(
        entry_from_request(
            request,
            principal,
            purpose=AuditPurpose.UserView,
            action=AuditAction.Read,
            asset=f"subject-export/{request_id}",
            subject=user_id,
        )
    )
    return _accepted(request_id, Kind.EXPORT, created, f"/v1/subject-exports/{request_id}")


@router.get("/subject-exports/{request_id}", summary="An export's progress and download link")
async def export_status(request_id: uuid.UUID, principal: Admin) -> dict[str, Any]:
    info = await _describe(request_id, Kind.EXPORT)
    if info["status"] == Status.DONE:
        settings = get_compliance_settings()
        query = archive.signed_query(
            settings, str(request_id), settings.compliance_export_link_ttl_s
        )
        info["download_url"] = f"/v1/subject-exports/{request_id}/download?{query}"
        info["download_link_ttl_s"] = settings.compliance_export_link_ttl_s
    return info


@router.get(
    "/subject-exports/{request_id}/download",
    summary="Download an export archive (zip) through a signed, short-lived link",
    response_class=Response,
)
async def download_export(
    request_id: uuid.UUID,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> Response:
    settings = get_compliance_settings()
    if not archive.link_valid(settings, str(request_id), expires, signature):
        raise ServiceError(
            "the download link is invalid or has expired; get a new one from the export's status",
            errors=[{"field": "signature", "reason": "invalid or expired"}],
        )
    async with get_engine().connect() as conn:
        opened = await open_request(conn, request_id, get_data_keys())
        requested_by = await conn.scalar(repository.REQUESTED_BY, {"id": request_id})
    if opened is None or opened.kind != Kind.EXPORT or opened.status != Status.DONE:
        raise NotFound(f"no downloadable export {request_id} (expired or not finished)")
    data = await anyio.to_thread.run_sync(lambda: archive.read(get_lake(), opened))
    await audit(
        AuditEntry(
            actor=str(requested_by),
            purpose=AuditPurpose.UserView,
            action=AuditAction.Read,
            asset=f"subject-export/{request_id}/download",
            subject=opened.user_id,
        )
    )
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="mindlake-export-{request_id}.zip"'},
    )
