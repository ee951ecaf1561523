"""The compliance Celery app: `celery -A services.compliance.worker worker -Q compliance`."""

from __future__ import annotations

import contextlib
from typing import Any

from celery.signals import worker_init

from libs.common.celery_app import create_celery
from libs.common.logging import configure_logging
from libs.common.metrics import serve_metrics
from services.compliance.config import get_compliance_settings

settings = get_compliance_settings()
celery_app = create_celery("mindlake-compliance", settings)
celery_app.conf.imports = ("services.compliance.tasks",)


@worker_init.connect
def _on_worker_init(**_: Any) -> None:
    configure_logging(settings.log_level)
    if settings.metrics_port:
        with contextlib.suppress(OSError):  # another worker on this host serves it
            serve_metrics(settings.metrics_port)
