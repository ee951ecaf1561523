"""The consent API: /v1/consent/..., /health, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from libs.common.app import service_app
from libs.common.db import get_engine
from libs.common.errors import ServiceUnavailable
from libs.common.logging import configure_logging
from services.consent.config import get_consent_settings
from services.consent.ledger import metrics
from services.consent.ledger.endpoints import router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_consent_settings()
    configure_logging(settings.log_level)
    refresher = asyncio.create_task(refresh_gauges(settings.consent_gauge_interval_s))
    yield
    refresher.cancel()
    await get_engine().dispose()


async def refresh_gauges(every_s: float) -> None:
    """Keep the consent-rate gauges current for scrapes."""
    while True:
        with contextlib.suppress(Exception):  # a database blip must not kill the loop
            async with get_engine().connect() as conn:
                await metrics.refresh(conn)
        await asyncio.sleep(every_s)


def create_app() -> FastAPI:
    app = service_app("consent", lifespan)
    app.include_router(router)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        try:
            async with get_engine().connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise ServiceUnavailable("the consent database is unreachable") from exc
        return {"status": "ok"}

    return app


app = create_app()
