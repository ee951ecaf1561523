"""The export API: training-data exports (/v1/exports), /health, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from libs.common.app import service_app
from libs.common.db import get_engine
from libs.common.errors import ServiceUnavailable
from libs.common.logging import configure_logging
from services.export.analytics.endpoints import router as analytics_router
from services.export.config import get_export_settings
from services.export.jobs.endpoints import router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    configure_logging(get_export_settings().log_level)
    yield
    await get_engine().dispose()


def create_app() -> FastAPI:
    app = service_app("export", lifespan)
    app.include_router(router)
    app.include_router(analytics_router)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        try:
            async with get_engine().connect() as conn:
                running = await conn.scalar(
                    text("SELECT count(*) FROM export.exports WHERE status = 'running'")
                )
        except Exception as exc:
            raise ServiceUnavailable("the database is unreachable") from exc
        return {"status": "ok", "exports_running": running}

    return app


app = create_app()
