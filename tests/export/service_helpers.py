"""Helpers of the export service's tests: settings of a test lake, a job run to the end."""

from __future__ import annotations

import uuid
from typing import Any

from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from services.export.config import ExportSettings
from services.export.jobs import repository
from services.export.jobs.runner import run_export
from tests.export.test_training_pipeline import DAY


def export_settings(lake_settings: Any) -> ExportSettings:
    common = {k: getattr(lake_settings, k) for k in CommonSettings.model_fields}
    return ExportSettings(**common)


def spec(**overrides: Any) -> dict[str, Any]:
    body = {
        "start_date": DAY.isoformat(),
        "end_date": DAY.isoformat(),
        "services": ["ai-service", "lyfbot-service"],
        "min_quality": 0.7,
        "validation_ratio": 0.5,
        "formats": ["jsonl", "parquet"],
    }
    return body | overrides


async def create(body: dict[str, Any] | None = None, by: str = "test") -> uuid.UUID:
    async with get_engine().begin() as conn:
        return await repository.create(conn, spec=body or spec(), requested_by=by)


async def run(export_id: uuid.UUID, lake_settings: Any) -> dict[str, Any]:
    settings = export_settings(lake_settings)
    row = await run_export(export_id, engine=get_engine(), lake=Lake(settings), settings=settings)
    assert row is not None and row["status"] == "done", row
    return row
