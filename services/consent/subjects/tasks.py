"""Celery tasks of the consent service's erasure/portability stores."""

from __future__ import annotations

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.subject_rights import run_step_task
from services.consent.config import get_consent_settings
from services.consent.subjects.stores import HANDLERS


@shared_task(
    name=TaskName.CONSENT_SUBJECT_STEP, acks_late=True, soft_time_limit=1800, time_limit=1900
)
def subject_step(request_id: str, store: str, phase: str) -> str:
    """One erasure/portability step of one of this service's stores (subjects/stores.py)."""
    return run_step_task(
        HANDLERS, get_consent_settings(), request_id=request_id, store=store, phase=phase
    )
