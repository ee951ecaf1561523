"""Segment / RudderStack HTTP tracking API on top of the ingest path.

The SDKs post `{"batch": [...], "sentAt", "writeKey", "context"?, "integrations"?}` to
/v1/batch, or one message to /v1/{track,identify,page,screen,group,alias}, with the write key
(here a MindLake API key) as the Basic-auth user name or as `writeKey` in the body, often
gzipped. Each message becomes a `segment` entry (schemas.SegmentEvent) and goes through
service.accept like any log entry: same limits, dedup (messageId), durability and PII rules.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from libs.common.auth import presented_key
from libs.common.errors import PROBLEM_JSON, PayloadTooLarge, ServiceError, Unauthorized
from services.ingest.config import IngestSettings
from services.ingest.logs.schemas import IngestReply
from services.ingest.logs.service import derived_event_id

SERVICE = "segment"
CALLS = ("track", "identify", "page", "screen", "group", "alias")
MAX_DEPTH = 64  # far beyond real events; keeps every JSON encoder and the scrubber safe

# Segment-style error codes: the SDKs read `code` and `message` from an error body, and
# RudderStack's retries a 4xx whose body lacks them as if it were a network error.
_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def header_key(request: Request) -> str | None:
    """The write key from `Authorization: Basic base64(key:)` (Segment's way), or a Bearer /
    X-API-Key header as for /v1/logs."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return presented_key(request)
    try:
        user = base64.b64decode(value.strip(), validate=True).decode().split(":", 1)[0]
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("the Basic credentials are not valid base64") from exc
    return user or None  # the write key is the user name; the password is empty


def body_key(body: Any) -> str | None:
    key = body.get("writeKey") if isinstance(body, dict) else None
    return key if isinstance(key, str) and key else None


def _too_deep(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_too_deep(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_too_deep(v, depth + 1) for v in value)
    return False


def entries_of(body: Any, call: str | None, settings: IngestSettings) -> list[Any]:
    """The ingest entries of a request: each message of a batch (call None), or the body as
    one message of type `call`."""
    if not isinstance(body, dict):
        raise ServiceError(
            "send a JSON object", errors=[{"field": "body", "reason": "expected an object"}]
        )
    if _too_deep(body):
        raise ServiceError(
            f"the body is nested more than {MAX_DEPTH} levels deep",
            errors=[{"field": "body", "reason": "nested too deeply"}],
        )
    if call is not None:
        return [_entry(body, call)]
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise ServiceError(
            "'batch' must be a list of messages",
            errors=[{"field": "batch", "reason": "not a list"}],
        )
    if len(batch) > settings.ingest_max_batch_entries:
        raise PayloadTooLarge(
            f"the batch has {len(batch):,} messages; the limit is "
            f"{settings.ingest_max_batch_entries:,} a batch"
        )
    # Batch-level sentAt, context and integrations apply to every message (its own win).
    return [
        _entry(
            message,
            None,
            sent_at=body.get("sentAt"),
            context=body.get("context"),
            integrations=body.get("integrations"),
        )
        for message in batch
    ]


def _entry(
    message: Any,
    call: str | None,
    *,
    sent_at: Any = None,
    context: Any = None,
    integrations: Any = None,
) -> Any:
    if not isinstance(message, dict):
        return message  # rejected per entry by the service
    entry = {k: v for k, v in message.items() if k != "writeKey"}  # the key never lands
    if call is not None:
        entry["type"] = call  # the path decides, as in Segment
    if not entry.get("messageId"):
        # Segment would make one up; a hash of the message without sentAt makes a resend of
        # the same message a duplicate (sentAt changes on every attempt).
        entry["messageId"] = derived_event_id(
            orjson.dumps(
                {k: v for k, v in entry.items() if k != "sentAt"}, option=orjson.OPT_SORT_KEYS
            )
        )
    if sent_at is not None and "sentAt" not in entry:
        entry["sentAt"] = sent_at
    for name, shared in (("context", context), ("integrations", integrations)):
        own = entry.get(name, {})
        if isinstance(shared, dict) and isinstance(own, dict):
            entry[name] = {**shared, **own}
    entry["service"] = SERVICE
    return entry


def success(reply: IngestReply) -> Response:
    """Segment's 200 `{"success": true}`, with our per-entry outcome alongside."""
    body = {"success": True, **reply.model_dump(mode="json")}
    return Response(orjson.dumps(body), status_code=200, media_type="application/json")


def problem(exc: ServiceError) -> Response:
    """problem+json, as elsewhere, plus Segment's `code` and `message`. No message accepted
    is a 400 here (not 422): the SDKs retry only 5xx and 429."""
    status = 400 if exc.status == 422 else exc.status
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": "Bad request" if status == 400 else exc.title,
        "status": status,
        "detail": exc.detail,
        "success": False,
        "code": _CODES.get(status, "error"),
        "message": exc.detail,
    }
    if exc.errors:
        body["errors"] = exc.errors
    headers = {"WWW-Authenticate": 'Basic realm="mindlake"'} if status == 401 else None
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )
