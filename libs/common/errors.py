"""One error type below the routers, one renderer: RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


class ServiceError(Exception):
    """Raise below the routers; rendered as problem+json with `status`."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class Gone(ServiceError):
    status = 410
    title = "Gone"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Unprocessable(ServiceError):
    status = 422
    title = "Unprocessable content"


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    title = "Unsupported media type"


class ServiceUnavailable(ServiceError):
    status = 503
    title = "Service unavailable"


def problem(
    status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if errors:
        body["errors"] = errors
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'entries', 3, 'score') -> 'entries[3].score' (the request part is dropped)."""
    parts: list[str] = []
    for item in loc:
        if item in ("body", "query", "path", "header") and not parts:
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each field at fault and why.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare in an OpenAPI document what the handlers below do: every 4xx is problem+json.

    Each operation gets a `4XX` problem response; a 4xx it declares without a body gets the
    problem body; FastAPI's own 422 (an `HTTPValidationError` JSON no route sends) is
    replaced. Idempotent, so an app that edits its schema afterwards may call it again.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    problem_body = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if not str(code).startswith("4"):
                    continue
                content = response.get("content") or {}
                ref = content.get("application/json", {}).get("schema", {}).get("$ref")
                if not content or ref == _FASTAPI_422:
                    response["content"] = dict(problem_body)
                    if ref == _FASTAPI_422:
                        response["description"] = "The request does not match the schema"
            refused = {"description": "Refused; the problem says why", "content": problem_body}
            responses.setdefault("4XX", dict(refused, content=dict(problem_body)))
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, once unused
        if f'"#/components/schemas/{name}"' not in orjson.dumps(schema).decode():
            components.pop(name, None)
    return schema


def install_error_handlers(app: FastAPI) -> None:
    async def on_service_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return problem(exc.status, exc.title, exc.detail, exc.errors)

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": field_path(e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        return problem(422, "Invalid request", "The request does not match the schema.", errors)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        # The type only: exception messages can carry user data.
        log.error("unhandled_error", error_type=type(exc).__name__)
        return problem(500, "Internal error", "The server failed; nothing was acknowledged.")

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
