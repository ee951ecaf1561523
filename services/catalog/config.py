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
    # OpenLineage: run events forwarded to this consumer (Marquez: http://marquez:5000).
    catalog_openlineage_url: str | None = None
    catalog_openlineage_endpoint: str = "api/v1/lineage"
    catalog_openlineage_timeout_s: float = Field(5.0, gt=0)
    catalog_lineage_depth_max: int = Field(10, ge=1, le=50)  # runs away a lineage walk goes
    # Ingestion jobs (GraphQL) are ingest's pull jobs, managed through ingest's API.
    catalog_ingest_url: str = "http://127.0.0.1:8000"
    catalog_ingest_timeout_s: float = Field(10.0, gt=0)
    # Transformations (GraphQL applyTransformation): the largest source read and result
    # written, in rows; how long and how much memory the DuckDB query may take.
    catalog_transform_source_rows_max: int = Field(5_000_000, ge=1)
    catalog_transform_rows_max: int = Field(1_000_000, ge=1)
    catalog_transform_timeout_s: float = Field(60.0, gt=0)
    catalog_transform_memory: str = Field("2GB", pattern=r"^[0-9]{1,6}(KB|MB|GB)$")


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
