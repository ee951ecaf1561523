"""The ingest Celery app: `celery -A services.ingest.worker worker -Q ingest` (and `beat`)."""

from __future__ import annotations

import contextlib
from typing import Any

from celery.signals import worker_init

from libs.common.celery_app import create_celery
from libs.common.logging import configure_logging
from libs.common.metrics import serve_metrics
from services.ingest.config import get_ingest_settings

settings = get_ingest_settings()
celery_app = create_celery(
    "mindlake-ingest",
    settings,
    flush_interval_s=settings.ingest_flush_interval_s,
    compact_cron=settings.ingest_compact_cron,
)
celery_app.conf.imports = ("services.ingest.tasks",)


@worker_init.connect
def _on_worker_init(**_: Any) -> None:
    configure_logging(settings.log_level)
    if settings.metrics_port:
        with contextlib.suppress(OSError):  # another worker on this host serves it
            serve_metrics(settings.metrics_port)
