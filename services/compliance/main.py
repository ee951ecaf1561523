"""The compliance API: the audit log (/v1/audit), subject rights, retention, the report,
/health, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from libs.common.app import service_app
from libs.common.db import get_engine
from libs.common.errors import ServiceUnavailable
from libs.common.logging import configure_logging
from services.compliance.audit import repository
from services.compliance.audit.endpoints import router
from services.compliance.config import get_compliance_settings
from services.compliance.report.endpoints import router as report_router
from services.compliance.retention.endpoints import router as retention_router
from services.compliance.subject_requests.endpoints import router as subject_router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    configure_logging(get_compliance_settings().log_level)
    yield
    await get_engine().dispose()


def create_app() -> FastAPI:
    app = service_app("compliance", lifespan)
    app.include_router(router)
    app.include_router(subject_router)
    app.include_router(retention_router)
    app.include_router(report_router)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        try:
            async with get_engine().connect() as conn:
                depth = await repository.outbox_depth(conn)
        except Exception as exc:
            raise ServiceUnavailable("the database is unreachable") from exc
        return {"status": "ok", "audit_outbox_depth": depth}

    return app


app = create_app()
