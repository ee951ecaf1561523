"""Segment / RudderStack-compatible routes: /v1/batch and /v1/{track,identify,...}. Thin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from libs.common.auth import Scope, authenticate_key
from libs.common.errors import ServiceError
from services.ingest.config import get_ingest_settings
from services.ingest.logs import service
from services.ingest.logs.body import read_json
from services.ingest.outbox.writer import writer as outbox_writer
from services.ingest.segment import service as segment

router = APIRouter(tags=["segment"])

_OPENAPI: dict[str, Any] = {
    "security": [{"basic": []}, {"bearer": []}],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {
        "200": {"description": "`{success: true}` plus accepted, duplicate, rejected, errors"},
        "400": {"description": "Not JSON, not gzip, or no message could be accepted"},
        "401": {"description": "No write key, or an unknown or revoked one"},
        "413": {"description": "Body, batch or single message past its limit"},
    },
}


async def _handle(request: Request, call: str | None) -> Response:
    try:
        settings = get_ingest_settings()
        key = segment.header_key(request)
        # A key in the header is checked before the body is read; `writeKey` only after.
        principal = await authenticate_key(key, Scope.INGEST_WRITE) if key else None
        body = await read_json(request, settings.ingest_max_batch_bytes)
        if principal is None:
            principal = await authenticate_key(segment.body_key(body), Scope.INGEST_WRITE)
        entries = segment.entries_of(body, call, settings)
        # the writer commits before accept returns, so before the reply is sent
        reply = await service.accept(
            outbox_writer.insert,
            entries,
            principal,
            settings,
            batch=call is None,
            source=segment.SERVICE,
        )
    except ServiceError as exc:
        return segment.problem(exc)
    response = segment.success(reply)
    flush_trigger = request.app.state.flush_trigger
    if reply.accepted and flush_trigger.due():
        response.background = BackgroundTask(flush_trigger.send)
    return response


@router.post(
    "/v1/batch",
    summary="Segment / RudderStack batch: {batch: [messages], sentAt, writeKey?}",
    openapi_extra=_OPENAPI,
)
async def post_batch(request: Request) -> Response:
    return await _handle(request, None)


def _single(call: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await _handle(request, call)

    router.add_api_route(
        f"/v1/{call}",
        endpoint,
        methods=["POST"],
        name=f"segment_{call}",
        summary=f"Segment / RudderStack {call} call",
        openapi_extra=_OPENAPI,
    )


for _call in segment.CALLS:
    _single(_call)
