"""The consent Celery app: `celery -A services.consent.worker worker -Q consent`.

Beat runs once per deployment (the ingest beat reads the shared schedule in
libs.common.contracts, which includes `consent.backup`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from celery.signals import worker_init

from libs.common.celery_app import create_celery
from libs.common.logging import configure_logging
from libs.common.metrics import serve_metrics
from services.consent.config import get_consent_settings

settings = get_consent_settings()
celery_app = create_celery("mindlake-consent", settings)
celery_app.conf.imports = ("services.consent.tasks",)


@worker_init.connect
def _on_worker_init(**_: Any) -> None:
    configure_logging(settings.log_level)
    if settings.metrics_port:
        with contextlib.suppress(OSError):  # another worker on this host serves it
            serve_metrics(settings.metrics_port)
