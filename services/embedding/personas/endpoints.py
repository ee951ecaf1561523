"""A user's uploads and personas: upload a file, list the files and their stages, process a
large file on request, read the personas. The user's own key scope
(`embedding:user`) or admin; every call is on the audit log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, authenticate
from libs.common.consent import can_use
from libs.common.contracts import ConsentPurpose
from libs.common.db import get_engine, unit_of_work
from libs.common.errors import Conflict, Forbidden, NotFound
from libs.common.lake import Lake
from libs.common.subjects import subject_key
from services.embedding.config import EmbeddingSettings, get_embedding_settings
from services.embedding.personas import repository, service
from services.embedding.personas.models import UploadStatus
from services.embedding.personas.schemas import PersonasOut, UploadOut, UploadsOut
from services.embedding.personas.tasks import send_categorize

router = APIRouter(prefix="/v1/users/{user_id}", tags=["personas"])
UserId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]
FileName = Annotated[
    str,
    Query(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f/\\]+$",
          description="The file's name (its extension says the kind: .csv, .json, .jsonl, .txt)"),
]  # fmt: skip
UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file as the raw body (streamed; any size up to the limit)",
        "content": {
            t: {"schema": {"type": "string", "format": "binary"}}
            for t in ("text/csv", "application/json", "text/plain", "application/octet-stream")
        },
    },
}
CONSENT_403: dict[int | str, dict[str, Any]] = {
    403: {"description": "No personalization consent, or the key lacks the scope"}
}


async def _caller(request: Request, user_id: str) -> tuple[Principal, str, EmbeddingSettings]:
    principal = await authenticate(request, Scope.EMBEDDING_USER)
    if not await can_use(user_id, ConsentPurpose.PERSONALIZATION):
        raise Forbidden(
            "the user has not granted personalization: uploads are neither accepted nor processed",
            errors=[{"field": "user_id", "reason": "no personalization consent"}],
        )
    settings = get_embedding_settings()
    return principal, subject_key(user_id, settings), settings


async def _audit(
    request: Request, principal: Principal, action: AuditAction, user_id: str, asset: str
) -> None:
    await audit(
        entry_from_request(
            request, principal, purpose=AuditPurpose.UserView, action=action,
            asset=asset, subject=user_id,
        )
    )  # fmt: skip


async def _key(engine: AsyncEngine, settings: EmbeddingSettings, sk: str) -> bytes | None:
    return await service.user_key(engine, settings, sk, create=False)


@router.post(
    "/uploads",
    response_model=UploadOut,
    status_code=201,
    summary="Upload one of the user's own data exports (CSV, JSON, text)",
    responses={**CONSENT_403, 413: {"description": "Over MINDLAKE_EMBEDDING_PERSONA_MAX_BYTES"}},
    openapi_extra=UPLOAD_OPENAPI,
)
async def upload(request: Request, user_id: UserId, name: FileName) -> UploadOut:
    """Stream the body, sealed with the user's key, into stage 1; files up to
    MINDLAKE_EMBEDDING_PERSONA_AUTO_MAX_BYTES are categorized at once, larger ones wait for
    POST .../uploads/{upload_id}/process."""
    principal, sk, settings = await _caller(request, user_id)
    engine = get_engine()
    row = await service.receive(
        engine=engine, settings=settings, lake=Lake(settings), subject_key=sk, name=name,
        media_type=request.headers.get("content-type"), chunks=request.stream(),
    )  # fmt: skip
    async with unit_of_work(engine) as uow:
        await repository.insert(uow.conn, **row)
        if row["status"] == UploadStatus.QUEUED:
            uow.after_commit(lambda: anyio.to_thread.run_sync(send_categorize, row["upload_id"]))
    await _audit(request, principal, AuditAction.Write, user_id, "personas/stage1")
    return UploadOut(**service.shown(row, await _key(engine, settings, sk)))


@router.get("/uploads", response_model=UploadsOut, summary="The user's uploads and their stages",
            responses=CONSENT_403)  # fmt: skip
async def list_uploads(request: Request, user_id: UserId) -> UploadsOut:
    principal, sk, settings = await _caller(request, user_id)
    engine = get_engine()
    async with engine.connect() as conn:
        rows = await repository.of_user(conn, sk)
    key = await _key(engine, settings, sk)
    await _audit(request, principal, AuditAction.Read, user_id, "personas/uploads")
    return UploadsOut(uploads=[UploadOut(**service.shown(r, key)) for r in rows])


@router.post(
    "/uploads/{upload_id}/process",
    response_model=UploadOut,
    status_code=202,
    summary="Process a file that waits (over the automatic size limit)",
    responses={**CONSENT_403, 404: {"description": "No such upload of this user"},
               409: {"description": "The upload is not waiting"}},
)  # fmt: skip
async def process(request: Request, user_id: UserId, upload_id: uuid.UUID) -> UploadOut:
    principal, sk, settings = await _caller(request, user_id)
    engine = get_engine()
    async with unit_of_work(engine) as uow:
        row = await repository.get(uow.conn, upload_id)
        if row is None or row["subject_key"] != sk:  # another user's id is unknown here
            raise NotFound("no upload with this id for this user")
        if not await repository.set_status(
            uow.conn, upload_id, from_=(UploadStatus.WAITING,), status=UploadStatus.QUEUED, stage=1,
            reason=None, updated_at=service.now(),
        ):  # fmt: skip
            raise Conflict(
                f"the upload is {row['status']}: only a waiting upload is processed on request",
                errors=[{"field": "upload_id", "reason": f"status {row['status']}"}],
            )
        uow.after_commit(lambda: anyio.to_thread.run_sync(send_categorize, upload_id))
        row = await repository.get(uow.conn, upload_id)
    assert row is not None
    await _audit(request, principal, AuditAction.Write, user_id, "personas/stage1")
    return UploadOut(**service.shown(row, await _key(engine, settings, sk)))


@router.get("/personas", response_model=PersonasOut, summary="The user's personas",
            responses=CONSENT_403)  # fmt: skip
async def personas(request: Request, user_id: UserId) -> PersonasOut:
    principal, sk, settings = await _caller(request, user_id)
    found = await service.read_personas(
        engine=get_engine(), settings=settings, lake=Lake(settings), subject_key=sk
    )
    await _audit(request, principal, AuditAction.Read, user_id, "personas/stage3")
    return PersonasOut(personas=found)
