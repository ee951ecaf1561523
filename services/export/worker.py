"""The export Celery app: `celery -A services.export.worker worker -Q export`."""

from __future__ import annotations

from libs.common.celery_app import create_celery
from services.export.config import get_export_settings

settings = get_export_settings()
celery_app = create_celery(
    "mindlake-export",
    settings,
    imports=(
        "services.export.jobs.tasks",
        "services.export.lineage.tasks",
        "services.export.subjects.tasks",
        "services.export.analytics.tasks",
        "services.export.recsys.tasks",
    ),
)
