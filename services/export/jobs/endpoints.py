"""Admin API of training-data exports: start, follow, list, download."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.contracts import TaskName
from libs.common.db import UnitOfWorkDep, get_engine
from libs.common.errors import Gone, NotFound, ServiceError
from libs.common.lake import get_lake
from services.export.config import get_export_settings
from services.export.jobs import download, repository
from services.export.jobs.repository import Status
from services.export.jobs.runner import spec_body
from services.export.jobs.schemas import ExportCreate, ExportList, ExportOut, ExportQueued
from services.export.lineage import rewrite
from services.export.worker import celery_app

router = APIRouter(prefix="/v1/exports", tags=["exports"])
Admin = Annotated[Principal, require_scope(Scope.ADMIN)]


async def _audit(
    request: Request,
    principal: Principal,
    action: AuditAction,
    asset: str,
    purpose: AuditPurpose = AuditPurpose.Admin,
) -> None:
    await audit(
        entry_from_request(
            request, principal, purpose=purpose, action=action, asset=asset, subject=None
        )
    )


def _out(row: dict[str, Any]) -> ExportOut:
    files = {name: path.rsplit("/", 1)[-1] for name, path in (row["paths"] or {}).items()}
    return ExportOut(
        **{k: v for k, v in row.items() if k not in ("paths", "superseded")}, files=files
    )


def _check(body: ExportCreate, max_days: int) -> None:
    errors = []
    today = datetime.now(UTC).date()
    if body.end_date < body.start_date:
        errors.append({"field": "end_date", "reason": "before start_date"})
    elif (body.end_date - body.start_date).days + 1 > max_days:
        errors.append({"field": "end_date", "reason": f"the range exceeds {max_days} days"})
    if body.start_date > today:
        errors.append({"field": "start_date", "reason": "in the future"})
    if "parquet" in body.formats and "jsonl" not in body.formats:
        errors.append({"field": "formats", "reason": "parquet comes beside jsonl, not alone"})
    if errors:
        raise ServiceError("the export request is invalid", errors=errors)


@router.post(
    "", status_code=202, response_model=ExportQueued, summary="Start an AI training export"
)
async def create_export(
    request: Request, body: ExportCreate, principal: Admin, uow: UnitOfWorkDep
) -> JSONResponse:
    settings = get_export_settings()
    _check(body, settings.export_max_days)
    spec = spec_body(
        settings,
        start=body.start_date,
        end=body.end_date,
        services=body.services,
        min_quality=body.min_quality,
        formats=list(body.formats),
    )
    export_id = await repository.create(uow.conn, spec=spec, requested_by=principal.key_id)

    def send() -> None:
        celery_app.send_task(
            TaskName.EXPORT_RUN, args=[str(export_id)], expires=settings.celery_task_expires_s
        )

    uow.after_commit(lambda: _audit(request, principal, AuditAction.Write, f"export/{export_id}"))
    uow.after_commit(lambda: anyio.to_thread.run_sync(send))  # the Redis client blocks
    url = f"/v1/exports/{export_id}"
    queued = ExportQueued(id=export_id, status=Status.QUEUED, status_url=url)
    return JSONResponse(queued.model_dump(mode="json"), status_code=202, headers={"Location": url})


def _cursor(row: dict[str, Any]) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, export_id = raw.split("|")
        return datetime.fromisoformat(at), uuid.UUID(export_id)
    except ValueError:
        raise ServiceError(
            "the cursor is malformed", errors=[{"field": "cursor", "reason": "use next_cursor"}]
        ) from None


@router.get("", response_model=ExportList, summary="Exports, newest first")
async def list_exports(
    request: Request,
    principal: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ExportList:
    limit = min(limit, get_export_settings().export_list_page_max)
    before = _parse_cursor(cursor) if cursor else None
    async with get_engine().connect() as conn:
        rows = await repository.page(conn, limit=limit + 1, before=before)
    await _audit(request, principal, AuditAction.Read, "export/exports")
    more = len(rows) > limit
    rows = rows[:limit]
    return ExportList(
        items=[_out(r) for r in rows], next_cursor=_cursor(rows[-1]) if more else None
    )


async def _row(export_id: uuid.UUID) -> dict[str, Any]:
    async with get_engine().connect() as conn:
        row = await repository.get(conn, export_id)
    if row is None:
        raise NotFound(f"no export {export_id}")
    return row


@router.get(
    "/{export_id}", response_model=ExportOut, summary="An export: status, progress, manifest"
)
async def get_export(request: Request, export_id: uuid.UUID, principal: Admin) -> ExportOut:
    row = await _row(export_id)
    await _audit(request, principal, AuditAction.Read, f"export/{export_id}")
    return _out(row)


@router.get(
    "/{export_id}/download",
    summary="Download one file of a finished export (S3 lake: a redirect to a presigned URL;"
    " an older version's file name: a redirect to the current file)",
    response_class=Response,
)
async def download_file(
    request: Request,
    export_id: uuid.UUID,
    principal: Admin,
    file: Annotated[str, Query(min_length=1, max_length=300, description="a name from `files`")],
) -> Response:
    row = await _row(export_id)
    if row["status"] != Status.DONE:
        raise ServiceError(
            "the export is not finished",
            errors=[{"field": "export_id", "reason": f"status is {row['status']}"}],
        )
    found = _current_file(row["paths"] or {}, file)
    if found is None:
        raise NotFound(f"export {export_id} has no file {file!r}; see its `files`")
    path, older = found
    name = path.rsplit("/", 1)[-1]
    if older:
        # An erasure or withdrawal rewrote the file: the old one held the removed user's lines
        # and is never served; the same role's current file is what the caller wants.
        location = f"/v1/exports/{export_id}/download?file={quote(name)}"
        return RedirectResponse(location, status_code=307)
    lake = get_lake()
    await _audit(request, principal, AuditAction.Read, path, purpose=AuditPurpose.MachineLearning)
    if lake.is_s3:
        if not await anyio.to_thread.run_sync(lake.exists, path):
            raise await _gone(export_id, file)
        ttl = get_export_settings().export_link_ttl_s
        url = await anyio.to_thread.run_sync(lambda: download.presigned_url(lake, path, ttl))
        return RedirectResponse(url, status_code=307)
    try:  # opened before the response starts, so a missing file is a 410, not a broken 200
        source = await anyio.to_thread.run_sync(lake.open_input_stream, path)
    except FileNotFoundError:
        raise await _gone(export_id, file) from None
    return StreamingResponse(
        download.stream(source),
        media_type=download.media_type(name),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _current_file(paths: dict[str, str], file: str) -> tuple[str, bool] | None:
    """The current path `file` stands for (a role such as `train_jsonl`, a current file name,
    or an older version's name of the same file), and whether `file` was an older name."""
    if file in paths:
        return paths[file], False
    base, version = rewrite.version_of(file)
    for path in paths.values():
        name = path.rsplit("/", 1)[-1]
        if name == file:
            return path, False
        current_base, current = rewrite.version_of(name)
        if current_base == base and version < current:
            return path, True
    return None


async def _gone(export_id: uuid.UUID, file: str) -> Gone:
    """The file is no longer stored (retention, or a rewrite since the row was read)."""
    version = (await _row(export_id))["version"]
    return Gone(
        f"file {file!r} of export {export_id} is no longer stored; the export is at version"
        f" {version}, see its `files` for the current names",
        errors=[{"field": "file", "reason": f"not stored; current version {version}"}],
    )
