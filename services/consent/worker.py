"""The consent Celery app: `celery -A services.consent.worker worker -Q consent`.

Beat runs once per deployment (the ingest beat reads the shared schedule in
libs.common.contracts, which includes `consent.backup`).
"""

from __future__ import annotations

from libs.common.celery_app import create_celery
from services.consent.config import get_consent_settings

settings = get_consent_settings()
celery_app = create_celery(
    "mindlake-consent",
    settings,
    imports=(
        "services.consent.ledger.tasks",
        "services.consent.backup.tasks",
        "services.consent.subjects.tasks",
    ),
)
