"""Celery tasks the ingest service consumes."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.lake import Lake
from libs.common.subject_rights import run_step_task
from services.ingest.config import get_ingest_settings
from services.ingest.deadletter_scrub import scrub_pending
from services.ingest.flush import flush_outbox
from services.ingest.maintenance import compact, prune_outbox
from services.ingest.pull.dispatch import claim_due_jobs, send_run
from services.ingest.pull.runner import run_pull
from services.ingest.subject_stores import HANDLERS


@shared_task(name=TaskName.INGEST_FLUSH, soft_time_limit=900, time_limit=960, acks_late=True)
def flush() -> dict[str, Any]:
    """Land everything committed to the outbox. Safe to run any number of times."""
    settings = get_ingest_settings()
    report = asyncio.run(flush_outbox(settings, Lake(settings)))
    return asdict(report)


@shared_task(name=TaskName.INGEST_COMPACT, soft_time_limit=3000, time_limit=3600, acks_late=True)
def compact_raw() -> dict[str, Any]:
    settings = get_ingest_settings()
    return asdict(asyncio.run(compact(settings, Lake(settings))))


@shared_task(name=TaskName.INGEST_PRUNE_OUTBOX, soft_time_limit=600, acks_late=True)
def prune() -> int:
    return asyncio.run(prune_outbox(get_ingest_settings()))


@shared_task(
    name=TaskName.INGEST_SCRUB_DEAD_LETTERS, soft_time_limit=600, time_limit=660, acks_late=True
)
def scrub_dead_letters() -> int:
    """Scrub PII from dead letters' stored payloads. Safe to run any number of times."""
    return asyncio.run(scrub_pending(get_ingest_settings()))


@shared_task(name=TaskName.INGEST_PULL_DUE, soft_time_limit=60, time_limit=90, acks_late=True)
def pull_due() -> list[int]:
    """Beat: send a run task for every due pull job (each job claimed once, SKIP LOCKED)."""
    settings = get_ingest_settings()
    due = asyncio.run(claim_due_jobs(settings))
    for job_id in due:
        send_run(pull_due.app, job_id, trigger="schedule", expires_s=settings.celery_task_expires_s)
    return due


@shared_task(name=TaskName.INGEST_PULL_RUN, soft_time_limit=1800, time_limit=1900, acks_late=True)
def pull_run(*, job_id: int, trigger: str = "schedule") -> dict[str, Any]:
    """Run one pull job. Safe to repeat: a run lands only what is past the job's position."""
    settings = get_ingest_settings()
    return asdict(asyncio.run(run_pull(job_id, settings, Lake(settings), trigger=trigger)))


@shared_task(
    name=TaskName.INGEST_SUBJECT_STEP, acks_late=True, soft_time_limit=1800, time_limit=1900
)
def subject_step(request_id: str, store: str, phase: str) -> str:
    """Collect or erase one user's data in one ingest store (subject_stores.HANDLERS)."""
    return run_step_task(HANDLERS, request_id, store, phase)
