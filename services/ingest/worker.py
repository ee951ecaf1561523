"""The ingest Celery app: `celery -A services.ingest.worker worker -Q ingest` (and `beat`)."""

from __future__ import annotations

from libs.common.celery_app import create_celery
from services.ingest.config import get_ingest_settings

settings = get_ingest_settings()
celery_app = create_celery(
    "mindlake-ingest",
    settings,
    imports=(
        "services.ingest.flush.tasks",
        "services.ingest.deadletters.tasks",
        "services.ingest.pull.tasks",
        "services.ingest.subjects.tasks",
    ),
)
