"""HTTP routes of the ingest API. Thin: parse, call the service, commit, reply."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from libs.common.auth import Scope, authenticate
from services.ingest.config import get_ingest_settings
from services.ingest.logs import service
from services.ingest.logs.body import read_json
from services.ingest.logs.schemas import SERVICES, IngestReply
from services.ingest.outbox.writer import writer as outbox_writer

router = APIRouter()

LOGS_OPENAPI: dict[str, Any] = {
    "summary": "Send one log entry or a batch",
    "description": "202 means every accepted entry is committed to the durable outbox.",
    "security": [{"bearer": []}],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/LogEntry"},
                        {
                            "type": "object",
                            "properties": {
                                "entries": {
                                    "type": "array",
                                    "maxItems": 1000,
                                    "items": {"$ref": "#/components/schemas/LogEntry"},
                                }
                            },
                            "required": ["entries"],
                        },
                    ]
                }
            }
        },
    },
    "responses": {
        "202": {
            "description": "Accepted entries are durable; the others are listed in `errors`",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/IngestReply"}}
            },
        },
        "400": {"description": "Not JSON or not gzip"},
        "401": {"description": "No key, or an unknown or revoked key"},
        "413": {"description": "Body, batch or single entry past its limit"},
        "415": {"description": "Not JSON, or an encoding other than gzip"},
        "422": {"description": "No entry could be accepted; `errors` says why, per entry"},
    },
}


async def post_logs(request: Request) -> Response:
    """POST /v1/logs: 202 means every accepted entry is committed to the durable outbox.

    A plain Starlette endpoint: for a single entry, FastAPI's per-request dependency
    machinery costs as much as the work itself. main.py documents it in the OpenAPI schema.
    """
    principal = await authenticate(request, Scope.INGEST_WRITE)
    settings = get_ingest_settings()
    body = await read_json(request, settings.ingest_max_batch_bytes)
    entries, is_batch = service.entries_of(body, settings)
    # the writer commits before accept returns, so before the reply is sent
    reply = await service.accept(outbox_writer.insert, entries, principal, settings, batch=is_batch)
    flush_trigger = request.app.state.flush_trigger
    trigger = BackgroundTask(flush_trigger.send) if reply.accepted and flush_trigger.due() else None
    return Response(
        IngestReply.__pydantic_serializer__.to_json(reply),
        status_code=202,
        media_type="application/json",
        background=trigger,
    )


@router.get("/v1/services", summary="Source services the API accepts")
async def list_services() -> dict[str, list[str]]:
    return {"services": list(SERVICES)}
