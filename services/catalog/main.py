"""The catalog API: every lake asset (/v1/assets), its versions and lineage, runs
(/v1/runs), a reconcile on demand, GraphQL (/graphql), /health, /metrics."""

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
from services.catalog.assets.endpoints import router as assets_router
from services.catalog.config import get_catalog_settings
from services.catalog.graphql.schema import router as graphql_router
from services.catalog.lineage.endpoints import router as lineage_router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    configure_logging(get_catalog_settings().log_level)
    yield
    await get_engine().dispose()


def create_app() -> FastAPI:
    app = service_app("catalog", lifespan)
    app.include_router(assets_router)
    app.include_router(lineage_router)
    app.include_router(graphql_router, prefix="/graphql")

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        try:
            async with get_engine().connect() as conn:
                assets = await conn.scalar(text("SELECT count(*) FROM catalog.assets"))
        except Exception as exc:
            raise ServiceUnavailable("the database is unreachable") from exc
        return {"status": "ok", "assets": assets}

    return app


app = create_app()
