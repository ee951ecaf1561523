"""Celery task `export.recommender` (beat: every `export_recsys_interval_h` hours)."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.export.config import get_export_settings
from services.export.recsys.build import build_all, build_recommender_data, new_run_id


async def _run(tenant: str | None, run_id: str | None) -> dict[str, Any]:
    settings = get_export_settings()
    lake, engine = Lake(settings), one_shot_engine()
    try:
        if tenant is None:
            manifests = await build_all(lake=lake, engine=engine, settings=settings, run_id=run_id)
        else:
            manifests = {
                tenant: await build_recommender_data(
                    tenant,
                    lake=lake,
                    engine=engine,
                    settings=settings,
                    run_id=run_id or new_run_id(),
                )
            }
    finally:
        await engine.dispose()
    # counts only: the manifests' paths and counts hold no user data, but keep results small
    return {t: m.get("counts", m) for t, m in manifests.items()}


@shared_task(
    name=TaskName.EXPORT_RECOMMENDER, soft_time_limit=3300, time_limit=3600, acks_late=True
)
def recommender(tenant: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Beat: recommender training data for every tenant (or one), a new run each time."""
    return asyncio.run(_run(tenant, run_id))
