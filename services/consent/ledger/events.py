"""After a committed change: invalidate every cache, then publish `consent.changed`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import anyio
import structlog
from celery import Celery

from libs.common.consent import checker
from libs.common.contracts import ConsentChanged, ConsentPurpose, Queue, TaskName
from services.consent.ledger.models import LedgerEntry

log = structlog.get_logger(__name__)


def payload(user_id: str, entries: Sequence[LedgerEntry]) -> ConsentChanged:
    return ConsentChanged(
        user_id=user_id,
        purposes=[ConsentPurpose(e.purpose) for e in entries],
        granted=[ConsentPurpose(e.purpose) for e in entries if e.granted],
        at=max((e.recorded_at for e in entries), default=datetime.now(UTC)),
    )


async def after_commit(
    celery_app: Celery, user_id: str, entries: Sequence[LedgerEntry], *, expires_s: float
) -> None:
    """Call only after the commit. The cache first: a withdrawal must bite before the reply."""
    await checker.invalidate(user_id)
    event = payload(user_id, entries)
    try:
        await anyio.to_thread.run_sync(lambda: send(celery_app, event, expires_s=expires_s))
    except Exception as exc:  # the change and the invalidation stand; consumers re-read state
        log.warning("consent_event_failed", error_type=type(exc).__name__)


def send(celery_app: Celery, event: ConsentChanged, *, expires_s: float) -> None:
    celery_app.send_task(
        TaskName.CONSENT_CHANGED,
        kwargs=event.model_dump(mode="json"),
        queue=Queue.CONSENT.value,
        expires=expires_s,
    )
