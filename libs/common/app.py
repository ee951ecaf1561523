"""The FastAPI app every service starts from: problem+json errors, /metrics, an access log."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from fastapi import FastAPI
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.common.errors import install_error_handlers
from libs.common.logging import REQUEST_ID
from libs.common.metrics import mount_metrics

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
UNMATCHED = "<unmatched>"  # no route matched: the path itself is never logged
QUIET_ROUTES = frozenset({"/health", "/metrics"})  # probes and scrapes: logged only on errors
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
log = structlog.get_logger("mindlake.access")
# Labels from closed sets only: route templates, known methods, status codes.
REQUESTS = Counter(
    "mindlake_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/consent/{user_id}`), set by the router."""
    route: Any = scope.get("route")
    if route is None:  # FastAPI's router sets "route" for its own routes only
        route = _route_of_endpoint(scope)
    if route is None:
        return UNMATCHED
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


def _route_of_endpoint(scope: Scope) -> Any:
    """The plain Starlette route (ingest's POST /v1/logs) whose endpoint handled `scope`."""
    endpoint, app = scope.get("endpoint"), scope.get("app")
    if endpoint is None or app is None:
        return None
    return next(
        (r for r in getattr(app, "routes", ()) if getattr(r, "endpoint", None) is endpoint), None
    )


class AccessLog:
    """One log line (and a count in mindlake_http_requests_total) per request: method, route
    template, status, duration and a request id (also bound for every log line of the
    request and sent back as `X-Request-ID`).

    Never the path, the query string or the client's address: paths carry user ids, query
    strings carry download signatures, and an IP address is personal data. Abuse handling
    that needs addresses belongs to the reverse proxy's own, short-lived logs. The request id
    is generated here, not taken from the caller, so no caller-chosen text reaches the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        header = (b"x-request-id", request_id.encode())
        status = 500  # unless a response starts: an exception escaping the app is a 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        started = time.perf_counter()
        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            REQUESTS.labels(route, method, str(status)).inc()
            if status >= 400 or route not in QUIET_ROUTES:
                log.info(
                    "request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            REQUEST_ID.reset(token)


def service_app(name: str, lifespan: Lifespan) -> FastAPI:
    app = FastAPI(
        title=f"MindLake {name}",
        version="0.1.0",
        lifespan=lifespan,
        # no OpenTelemetry here: skip FastAPI's per-request provider look-ups
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    mount_metrics(app)
    app.add_middleware(AccessLog)
    return app
