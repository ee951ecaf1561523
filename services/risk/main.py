"""The risk API: assessments (/v1/users/{id}/risk, /v1/risk/high), interventions, models
(/v1/models), /health, /metrics. Decision support for clinicians, not diagnosis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from libs.common.app import service_app
from libs.common.db import get_engine
from libs.common.errors import ServiceUnavailable
from libs.common.logging import configure_logging
from services.risk.api.assessments import router as assessments_router
from services.risk.api.models import jobs_router
from services.risk.api.models import router as models_router
from services.risk.config import get_risk_settings
from services.risk.interventions.endpoints import router as interventions_router
from services.risk.models import ModelRow


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    configure_logging(get_risk_settings().log_level)
    yield
    await get_engine().dispose()


def create_app() -> FastAPI:
    app = service_app("risk", lifespan)
    app.include_router(assessments_router)
    app.include_router(interventions_router)
    app.include_router(models_router)
    app.include_router(jobs_router)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        try:
            async with get_engine().connect() as conn:
                champion = await conn.scalar(
                    select(ModelRow.version).where(ModelRow.alias == "champion")
                )
        except Exception as exc:
            raise ServiceUnavailable("the database is unreachable") from exc
        return {"status": "ok", "champion": champion}

    return app


app = create_app()
