"""The risk Celery app: `celery -A services.risk.worker worker -Q risk`."""

from __future__ import annotations

from libs.common.celery_app import create_celery
from services.risk.config import get_risk_settings

settings = get_risk_settings()
celery_app = create_celery(
    "mindlake-risk",
    settings,
    imports=("services.risk.tasks", "services.risk.subjects.tasks"),
)
