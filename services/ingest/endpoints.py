"""HTTP routes of the ingest API. Thin: parse, call the service, commit, reply."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response

from libs.common.auth import IngestPrincipal
from services.ingest import service
from services.ingest.body import read_json
from services.ingest.config import get_ingest_settings
from services.ingest.schemas import SERVICES, IngestReply
from services.ingest.writer import writer as outbox_writer

router = APIRouter()

LOGS_BODY_DOC: dict[str, Any] = {
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
    }
}


@router.post(
    "/v1/logs",
    status_code=202,
    response_model=IngestReply,
    openapi_extra=LOGS_BODY_DOC,
    summary="Send one log entry or a batch",
    responses={
        413: {"description": "Body, batch or single entry past its limit"},
        422: {"description": "No entry could be accepted; `errors` says why, per entry"},
    },
)
async def post_logs(
    request: Request, principal: IngestPrincipal, background: BackgroundTasks
) -> Response:
    """202 means every accepted entry is committed to the durable outbox."""
    settings = get_ingest_settings()
    body = await read_json(request, settings.ingest_max_batch_bytes)
    entries, is_batch = service.entries_of(body, settings)
    # the writer commits before accept returns, so before the reply is sent
    reply = await service.accept(outbox_writer.insert, entries, principal, settings, batch=is_batch)
    if reply.accepted:
        background.add_task(request.app.state.flush_trigger)
    return Response(
        orjson.dumps(reply.model_dump(mode="json")), status_code=202, media_type="application/json"
    )


@router.get("/v1/services", summary="Source services the API accepts")
async def list_services() -> dict[str, list[str]]:
    return {"services": list(SERVICES)}
