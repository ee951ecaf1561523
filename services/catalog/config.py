"""Catalog settings: the common ones plus `MINDLAKE_CATALOG_*`."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from libs.common.contracts import TaskName
from libs.common.schedules import BeatSchedule, cron, job
from libs.common.settings import CommonSettings


class CatalogSettings(CommonSettings):
    # The reconcile (UTC cron): every asset in the lake found and inspected, daily at 01:30.
    catalog_reconcile_cron: str = "30 1 * * *"
    # Inspection: rows and columns sampled to tell an encrypted column from a clear one.
    catalog_sample_rows: int = Field(200, ge=1, le=100_000)
    catalog_page_max: int = Field(500, ge=1)  # the largest `limit` of a listing


@lru_cache
def get_catalog_settings() -> CatalogSettings:
    return CatalogSettings()


def beat_schedule() -> BeatSchedule:
    """The catalog's scheduled jobs (libs/common/schedules.py gathers every service's)."""
    s = get_catalog_settings()
    return {
        "catalog-reconcile": job(
            TaskName.CATALOG_RECONCILE, cron(s.catalog_reconcile_cron), expires=3600
        ),
    }
