"""The FastAPI app every service starts from: problem+json errors and /metrics."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from libs.common.errors import install_error_handlers
from libs.common.metrics import mount_metrics

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


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
    return app
