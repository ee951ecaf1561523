"""Admin API of retention (/v1/retention)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Query, Request

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.contracts import TaskName
from libs.common.db import UnitOfWorkDep, get_engine
from libs.common.errors import NotFound
from services.compliance.config import get_compliance_settings
from services.compliance.retention import repository as retention_repository
from services.compliance.retention.schemas import (
    PolicyList,
    PolicyOut,
    PolicyUpdate,
    RunList,
    RunOut,
    RunQueued,
)
from services.compliance.worker import celery_app

router = APIRouter(tags=["retention and reports"])
AdminPrincipal = Annotated[Principal, require_scope(Scope.ADMIN)]
Name = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


async def _audit(request: Request, principal: Principal, action: AuditAction, asset: str) -> None:
    await audit(
        entry_from_request(
            request, principal, purpose=AuditPurpose.Admin, action=action, asset=asset, subject=None
        )
    )


@router.get("/v1/retention/policies", response_model=PolicyList)
async def list_policies(request: Request, principal: AdminPrincipal) -> PolicyList:
    async with get_engine().connect() as conn:
        policies = await retention_repository.policies(conn)
    await _audit(request, principal, AuditAction.Read, "compliance.retention_policies")
    return PolicyList(items=[PolicyOut.model_validate(p) for p in policies])


@router.put("/v1/retention/policies/{zone}/{data_type}", response_model=PolicyOut)
async def set_policy(
    request: Request,
    principal: AdminPrincipal,
    *,
    zone: Name,
    data_type: Name,
    body: PolicyUpdate,
    uow: UnitOfWorkDep,
) -> PolicyOut:
    """Change how many days one kind of data is kept; the next run applies it."""
    policy = await retention_repository.set_days(
        uow.conn, zone, data_type, days=body.retention_days, updated_by=principal.key_id
    )
    if policy is None:
        raise NotFound(f"no retention policy for {zone}/{data_type}")
    asset = f"compliance.retention_policies/{zone}/{data_type}"
    uow.after_commit(lambda: _audit(request, principal, AuditAction.Write, asset))
    return PolicyOut.model_validate(policy)


@router.post("/v1/retention/run", response_model=RunQueued, status_code=202)
async def run_now(request: Request, principal: AdminPrincipal, uow: UnitOfWorkDep) -> RunQueued:
    """Queue a retention run now (the worker runs it); follow it in GET /v1/retention/runs."""
    run_id = await retention_repository.create_run(
        uow.conn, trigger="manual", requested_by=principal.key_id, status="queued"
    )
    expires = get_compliance_settings().celery_task_expires_s

    def send() -> None:
        celery_app.send_task(
            TaskName.COMPLIANCE_RETENTION, kwargs={"run_id": str(run_id)}, expires=expires
        )

    uow.after_commit(
        lambda: _audit(request, principal, AuditAction.Write, "compliance.retention_runs")
    )
    uow.after_commit(lambda: anyio.to_thread.run_sync(send))  # the Redis client blocks
    return RunQueued(id=run_id, status="queued")


@router.get("/v1/retention/runs", response_model=RunList)
async def list_runs(
    request: Request,
    principal: AdminPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RunList:
    """The latest runs, newest first, with what each policy removed."""
    async with get_engine().connect() as conn:
        runs = await retention_repository.runs(conn, limit=limit)
    await _audit(request, principal, AuditAction.Read, "compliance.retention_runs")
    return RunList(items=[RunOut.model_validate(r) for r in runs])
