"""POST /internal/data/upload-csv and GET /internal/data/uploads/{upload_id}."""

from __future__ import annotations

import re
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from libs.common.auth import Scope, authenticate
from libs.common.db import get_engine
from libs.common.errors import Forbidden, NotFound, UnsupportedMediaType
from libs.common.lake import Lake
from services.ingest.config import IngestSettings, get_ingest_settings
from services.ingest.csv_upload import repository, service
from services.ingest.csv_upload.schemas import UploadReport
from services.ingest.csv_upload.spool import spool

router = APIRouter(prefix="/internal/data", tags=["csv upload"])
UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")

UPLOAD_OPENAPI: dict[str, Any] = {
    "security": [{"bearer": []}],
    "requestBody": {
        "required": True,
        "description": "The CSV file as the raw body (streamed; a header line first)",
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    },
}


def _settings_and_lake(request: Request) -> tuple[IngestSettings, Lake]:
    # tests (or an embedding app) may set app.state.ingest_settings to another lake
    settings = getattr(request.app.state, "ingest_settings", None) or get_ingest_settings()
    return settings, Lake(settings)


@router.post(
    "/upload-csv",
    summary="Upload a tenant's interactions or items CSV",
    response_model=UploadReport,
    responses={
        403: {"description": "The key may not write for this tenant"},
        413: {"description": "Over MINDLAKE_INGEST_CSV_MAX_BYTES"},
        415: {"description": "Not a CSV body"},
        422: {"description": "Bad tenant or data type, not UTF-8, or required columns missing"},
    },
    openapi_extra=UPLOAD_OPENAPI,
)
async def upload_csv(
    request: Request,
    tenant: Annotated[str, Query(max_length=64)],
    data_type: Annotated[str, Query(max_length=32)],
) -> JSONResponse:
    """Validate the file's rows and land the valid ones in `raw/tenants/<tenant>/<data_type>`.

    Rows failing a rule are quarantined and kept in the dead-letter store; the reply is the
    validation report (also at GET /internal/data/uploads/{upload_id}).
    """
    principal = await authenticate(request, Scope.INGEST_WRITE)
    target = service.check_target(tenant, data_type)
    if not principal.may_use_tenant(tenant):  # a valid tenant name: safe to name back
        raise Forbidden(
            f"the API key may not write for tenant '{tenant}'",
            errors=[{"field": "tenant", "reason": "not among the API key's tenants"}],
        )
    media = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    if media not in CSV_TYPES:
        raise UnsupportedMediaType("send the CSV as the raw body with Content-Type: text/csv")
    settings, lake = _settings_and_lake(request)
    spooled = await spool(
        request.stream(),
        max_bytes=settings.ingest_csv_max_bytes,
        directory=settings.ingest_csv_spool_dir,
    )
    try:
        report = await service.run_upload(
            spooled=spooled,
            tenant=tenant,
            data_type=target,
            lake=lake,
            settings=settings,
            key_id=principal.key_id,
        )
    finally:
        await anyio.to_thread.run_sync(spooled.path.unlink)
    status = 200 if report.status == "landed" else 422
    return JSONResponse(report.model_dump(mode="json"), status_code=status)


@router.get(
    "/uploads/{upload_id}",
    summary="An upload's status and validation report",
    responses={404: {"description": "No such upload, or one of a tenant outside the key's"}},
)
async def get_upload(request: Request, upload_id: str) -> dict[str, Any]:
    """Readable within the key's tenants (admin: all); others' uploads are a 404, as unknown
    ids are, so ids cannot be probed."""
    principal = await authenticate(request, Scope.INGEST_WRITE)
    if not UPLOAD_ID_RE.fullmatch(upload_id):  # ids are uuid4 hex; no query for anything else
        raise NotFound("no upload with this id")
    async with get_engine().connect() as conn:
        report = await repository.get_report(conn, upload_id)
    if report is None or not principal.may_use_tenant(report["tenant"]):
        raise NotFound("no upload with this id")
    return report
