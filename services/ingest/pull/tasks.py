"""Celery tasks of pull jobs: sending due runs (beat) and running one job."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.lake import Lake
from services.ingest.config import get_ingest_settings
from services.ingest.pull.dispatch import claim_due_jobs, send_run
from services.ingest.pull.runner import run_pull


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
