"""The compliance Celery app: `celery -A services.compliance.worker worker -Q compliance`."""

from __future__ import annotations

from libs.common.celery_app import create_celery
from services.compliance.config import get_compliance_settings

settings = get_compliance_settings()
celery_app = create_celery(
    "mindlake-compliance",
    settings,
    imports=(
        "services.compliance.audit.tasks",
        "services.compliance.subject_requests.tasks",
        "services.compliance.subjects.tasks",
        "services.compliance.retention.tasks",
        "services.compliance.report.tasks",
    ),
)
