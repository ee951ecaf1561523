"""Celery tasks of the catalog's erasure/portability stores."""

from __future__ import annotations

from celery import shared_task

from libs.common.contracts import TaskName
from libs.common.subject_rights import run_step_task
from services.catalog.config import get_catalog_settings
from services.catalog.subjects.stores import HANDLERS


@shared_task(
    name=TaskName.CATALOG_SUBJECT_STEP, acks_late=True, soft_time_limit=1800, time_limit=1900
)
def subject_step(request_id: str, store: str, phase: str) -> str:
    """One erasure/portability step of this service's stores (subjects/stores.py)."""
    return run_step_task(
        HANDLERS, get_catalog_settings(), request_id=request_id, store=store, phase=phase
    )
