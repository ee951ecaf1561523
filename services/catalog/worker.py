"""The catalog Celery app: `celery -A services.catalog.worker worker -Q catalog`."""

from __future__ import annotations

from libs.common.celery_app import create_celery
from services.catalog.config import get_catalog_settings

settings = get_catalog_settings()
celery_app = create_celery(
    "mindlake-catalog",
    settings,
    imports=(
        "services.catalog.assets.tasks",
        "services.catalog.lineage.tasks",
        "services.catalog.subjects.tasks",
    ),
)
