"""Celery tasks of the dead-letter store: scrubbing stored payloads of PII."""

from __future__ import annotations

import asyncio

from celery import shared_task

from libs.common.contracts import TaskName
from services.ingest.config import get_ingest_settings
from services.ingest.deadletters.scrub import scrub_pending


@shared_task(
    name=TaskName.INGEST_SCRUB_DEAD_LETTERS, soft_time_limit=600, time_limit=660, acks_late=True
)
def scrub_dead_letters() -> int:
    """Scrub PII from dead letters' stored payloads. Safe to run any number of times."""
    return asyncio.run(scrub_pending(get_ingest_settings()))
