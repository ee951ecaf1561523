"""Celery tasks of the ingest stores in the erasure/portability registry."""

from __future__ import annotations

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.subject_rights import run_step_task
from services.ingest.config import get_ingest_settings
from services.ingest.subjects.stores import HANDLERS


@shared_task(
    name=TaskName.INGEST_SUBJECT_STEP, acks_late=True, soft_time_limit=1800, time_limit=1900
)
def subject_step(request_id: str, store: str, phase: str) -> str:
    """Collect or erase one user's data in one ingest store (subjects/stores.HANDLERS)."""
    return run_step_task(
        HANDLERS, get_ingest_settings(), request_id=request_id, store=store, phase=phase
    )
