"""What a request's work sends next, sent only after the transaction that decided it.

Every send carries a payload model of libs/common/contracts.py and `expires`: a step, advance
or verification that waited longer than that is dropped, and the sweep sends it again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from celery import Celery

from libs.common.contracts import (
    SubjectRequestRef,
    SubjectStep,
    SubjectStore,
    TaskName,
    step_task_for,
)
from libs.common.lake import Lake
from libs.common.subject_rights import Phase


@dataclass(frozen=True)
class Dispatch:
    """Tasks to send once the transaction that decided them has committed."""

    steps: list[tuple[str, str]]  # (store, phase)
    verify: bool = False
    advance: bool = False  # its phase looks complete: look again (the sweep, for a lost one)
    delete_paths: tuple[str, ...] = ()  # lake objects no longer needed, deleted after commit


def collect_dispatch() -> Dispatch:
    return Dispatch(steps=[(s.value, Phase.COLLECT) for s in SubjectStore])


def clean_up(lake: Lake, dispatch: Dispatch) -> None:
    for path in dispatch.delete_paths:
        if lake.exists(path):
            lake.delete(path)


def _send(
    app: Celery, task: str, payload: SubjectStep | SubjectRequestRef, expires_s: float
) -> None:
    app.send_task(task, kwargs=payload.model_dump(mode="json"), expires=expires_s)


def send(
    app: Celery, lake: Lake, request_id: uuid.UUID, dispatch: Dispatch, *, expires_s: float
) -> None:
    """After the commit: clean up, then send the next steps."""
    clean_up(lake, dispatch)
    for store, phase in dispatch.steps:
        step = SubjectStep(request_id=request_id, store=store, phase=phase)
        _send(app, step_task_for(store), step, expires_s)
    ref = SubjectRequestRef(request_id=request_id)
    if dispatch.verify:
        _send(app, TaskName.COMPLIANCE_SUBJECT_VERIFY, ref, expires_s)
    if dispatch.advance:
        _send(app, TaskName.COMPLIANCE_SUBJECT_ADVANCE, ref, expires_s)
