"""The asset catalog over REST: list and read assets, a Delta asset's versions, and a
reconcile on demand. Keys with `catalog:read` (`catalog:write` to reconcile) or admin; every
read is on the audit log with the caller's purpose."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request

from libs.common.audit import AuditAction, AuditPurpose
from libs.common.auth import Scope, authenticate
from libs.common.contracts import Queue, TaskName
from libs.common.db import get_engine
from libs.common.errors import NotFound, Unprocessable
from libs.common.lake import Lake
from services.catalog.access import caller, record
from services.catalog.assets import repository
from services.catalog.assets.known import AssetType, StorageFormat
from services.catalog.assets.restore import restore
from services.catalog.assets.schemas import (
    AssetList,
    AssetOut,
    ReconcileQueued,
    RestoreIn,
    RestoreOut,
    VersionList,
    VersionOut,
)
from services.catalog.assets.service import register
from services.catalog.assets.versions import history
from services.catalog.config import get_catalog_settings
from services.catalog.worker import celery_app

router = APIRouter(prefix="/v1", tags=["catalog"])
Purpose = Annotated[AuditPurpose, Query(description="Why the catalog is read (on the audit log)")]
Tag = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]


async def _read(request: Request, purpose: AuditPurpose, asset: str) -> None:
    await caller(request, Scope.CATALOG_READ, action=AuditAction.Read, asset=asset,
                 purpose=purpose)  # fmt: skip


@router.get("/assets", response_model=AssetList, summary="The lake's assets")
async def list_assets(
    request: Request,
    *,
    purpose: Purpose = AuditPurpose.Admin,
    type: Annotated[list[AssetType] | None, Query(description="Any of these types")] = None,
    tag: Annotated[list[Tag] | None, Query(description="Every one of these tags")] = None,
    owner: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AssetList:
    settings = get_catalog_settings()
    if limit > settings.catalog_page_max:
        raise Unprocessable(
            f"limit is at most {settings.catalog_page_max}",
            errors=[{"field": "limit", "reason": f"at most {settings.catalog_page_max}"}],
        )
    await _read(request, purpose, "catalog/assets")
    async with get_engine().connect() as conn:
        rows = await repository.listing(
            conn, types=[t.value for t in type or []], tags=tag or [], owner=owner,
            limit=limit, offset=offset,
        )  # fmt: skip
    return AssetList(items=[AssetOut(**r) for r in rows], limit=limit, offset=offset)


async def _asset(asset_id: uuid.UUID) -> dict[str, Any]:
    async with get_engine().connect() as conn:
        row = await repository.get(conn, asset_id)
    if row is None:
        raise NotFound("no asset with this id")
    return row


@router.get("/assets/{asset_id}", response_model=AssetOut, summary="One asset",
            responses={404: {"description": "No such asset"}})  # fmt: skip
async def get_asset(
    request: Request, asset_id: uuid.UUID, purpose: Purpose = AuditPurpose.Admin
) -> AssetOut:
    await _read(request, purpose, f"catalog/assets/{asset_id}")
    return AssetOut(**(await _asset(asset_id)))


@router.get(
    "/assets/{asset_id}/versions",
    response_model=VersionList,
    summary="A Delta asset's versions, newest first",
    responses={404: {"description": "No such asset"},
               422: {"description": "The asset is not a Delta table"}},
)  # fmt: skip
async def asset_versions(
    request: Request,
    asset_id: uuid.UUID,
    purpose: Purpose = AuditPurpose.Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> VersionList:
    await _read(request, purpose, f"catalog/assets/{asset_id}/versions")
    row = await _asset(asset_id)
    if row["storage_format"] != StorageFormat.DELTA.value:
        raise Unprocessable(
            "only a Delta asset has versions",
            errors=[{"field": "asset_id", "reason": f"storage format {row['storage_format']}"}],
        )
    lake = Lake(get_catalog_settings())
    found = await anyio.to_thread.run_sync(lambda: history(lake, str(row["location"]), limit=limit))
    if found is None:
        raise NotFound("the asset's table is no longer in the lake")
    return VersionList(asset_id=asset_id, items=[VersionOut(**v) for v in found])


@router.post("/catalog/reconcile", response_model=ReconcileQueued, status_code=202,
             summary="Find and inspect every asset in the lake now")  # fmt: skip
async def reconcile_now(request: Request) -> ReconcileQueued:
    await caller(request, Scope.CATALOG_WRITE, action=AuditAction.Write, asset="catalog/assets")
    await anyio.to_thread.run_sync(
        lambda: celery_app.send_task(TaskName.CATALOG_RECONCILE, queue=Queue.CATALOG.value)
    )
    return ReconcileQueued(task=TaskName.CATALOG_RECONCILE.value)


@router.post(
    "/assets/{asset_id}/restore",
    response_model=RestoreOut,
    summary="Restore a Delta asset to an earlier version (erased users never come back)",
    responses={404: {"description": "No such asset"},
               409: {"description": "The version's files are gone, or the asset is raw/events"},
               422: {"description": "Not a Delta asset, not an earlier version, not confirmed"}},
)  # fmt: skip
async def restore_asset(request: Request, asset_id: uuid.UUID, body: RestoreIn) -> RestoreOut:
    principal = await authenticate(request, Scope.CATALOG_WRITE)
    row = await _asset(asset_id)
    if row["storage_format"] != StorageFormat.DELTA.value:
        raise Unprocessable(
            "only a Delta asset has versions to restore",
            errors=[{"field": "asset_id", "reason": f"storage format {row['storage_format']}"}],
        )
    await record(request, principal, action=AuditAction.VersionRestore,
                 asset=f"catalog/assets/{asset_id}@{body.version}")  # fmt: skip
    settings = get_catalog_settings()
    done = await restore(get_engine(), Lake(settings), row["location"], body.version,
                         confirmed=body.drop_later_writes)  # fmt: skip
    await register(
        engine=get_engine(),
        lake=Lake(settings),
        settings=settings,
        path=row["location"],
        writer="catalog",
    )  # its row shows the new version
    return RestoreOut(**done)
