"""The embedding API: semantic search (/v1/search), runs (/v1/embedding/runs), a user's
uploads and personas (/v1/users/{user_id}/uploads, /personas), /health, /metrics."""

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
from services.embedding.config import get_embedding_settings
from services.embedding.personas.endpoints import router as personas_router
from services.embedding.search.endpoints import router as search_router
from services.embedding.sync.endpoints import router as runs_router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    configure_logging(get_embedding_settings().log_level)
    yield
    await get_engine().dispose()


def create_app() -> FastAPI:
    app = service_app("embedding", lifespan)
    app.include_router(search_router)
    app.include_router(runs_router)
    app.include_router(personas_router)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        try:
            async with get_engine().connect() as conn:
                running = await conn.scalar(
                    text("SELECT count(*) FROM embedding.runs WHERE status = 'running'")
                )
        except Exception as exc:
            raise ServiceUnavailable("the database is unreachable") from exc
        return {"status": "ok", "runs_running": running}

    return app


app = create_app()
