"""Asking the worker to flush right after a commit, at most once per interval per process."""

from __future__ import annotations

import time

import anyio
import structlog
from celery import Celery

from libs.common.contracts import Queue, TaskName

log = structlog.get_logger(__name__)


class FlushTrigger:
    def __init__(self, celery_app: Celery, min_interval_s: float, expires_s: int) -> None:
        self.celery_app = celery_app
        self.min_interval_s = min_interval_s
        self.expires_s = expires_s
        self._last = 0.0

    async def __call__(self) -> None:
        """Async, so a request whose trigger is not due costs no threadpool hop."""
        now = time.monotonic()
        if now - self._last < self.min_interval_s:
            return
        self._last = now
        await anyio.to_thread.run_sync(self._send)

    def _send(self) -> None:
        try:
            self.celery_app.send_task(
                TaskName.INGEST_FLUSH, queue=Queue.INGEST, expires=self.expires_s
            )
        except Exception as exc:  # the beat schedule flushes anyway; the rows are safe
            log.warning("flush_trigger_failed", error_type=type(exc).__name__)
