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

    def due(self) -> bool:
        """True at most once per interval: then the caller schedules `send` after replying."""
        now = time.monotonic()
        if now - self._last < self.min_interval_s:
            return False
        self._last = now
        return True

    async def send(self) -> None:
        await anyio.to_thread.run_sync(self._send)  # the Redis client blocks

    def _send(self) -> None:
        try:
            self.celery_app.send_task(
                TaskName.INGEST_FLUSH, queue=Queue.INGEST, expires=self.expires_s
            )
        except Exception as exc:  # the beat schedule flushes anyway; the rows are safe
            log.warning("flush_trigger_failed", error_type=type(exc).__name__)
