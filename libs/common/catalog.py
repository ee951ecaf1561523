"""Telling the catalog that an asset was written: every lake writer calls `asset_written`
after its commit, with the asset's path and its own service name.

The message is a hint, not a promise: when Redis is down it is dropped with a warning, and
the catalog's daily reconcile finds the asset anyway. So a writer never fails for it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from celery import current_app

from libs.common.contracts import AssetWritten, Queue, TaskName

log = structlog.get_logger(__name__)
EXPIRES_S = 24 * 3600  # older than a day: the reconcile has seen the asset by then


def asset_written(path: str, *, service: str) -> None:
    """Queue `catalog.register` for the asset at `path` (relative to the lake root)."""
    event = AssetWritten(path=path.strip("/"), service=service, at=datetime.now(UTC))
    try:
        current_app.send_task(
            TaskName.CATALOG_REGISTER,
            kwargs=event.model_dump(mode="json"),
            queue=Queue.CATALOG.value,
            expires=EXPIRES_S,
            retry=False,
        )
    except Exception as exc:  # the reconcile covers a lost hint; the write itself stands
        log.warning("catalog_hint_not_sent", error_type=type(exc).__name__)
