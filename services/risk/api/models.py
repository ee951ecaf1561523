"""Admin API of the risk jobs: train now, assess a day now, the model versions (which is
champion), the training runs."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from libs.common.auth import Principal, Scope, require_scope
from libs.common.contracts import Queue, TaskName
from libs.common.db import get_engine
from services.risk.config import DISCLAIMER
from services.risk.model.registry import model_rows
from services.risk.models import TrainingJobRow
from services.risk.worker import celery_app

router = APIRouter(prefix="/v1/models", tags=["risk models"])
jobs_router = APIRouter(prefix="/v1/risk", tags=["risk models"])
Admin = Annotated[Principal, require_scope(Scope.ADMIN)]


class JobQueued(BaseModel):
    task_id: str


class AssessStart(BaseModel):
    day: date | None = None  # default: today (UTC)


@jobs_router.post("/assess", response_model=JobQueued, status_code=202)
async def assess_now(_: Admin, body: AssessStart | None = None) -> JobQueued:
    """Queue the daily assessment of `day` now (beat runs it at 06:00 UTC); re-running a day
    replaces its assessments and sends no second message that day."""
    day = (body or AssessStart()).day
    kwargs = {"day": day.isoformat()} if day else {}
    result = await anyio.to_thread.run_sync(
        lambda: celery_app.send_task(
            TaskName.RISK_ASSESS, kwargs=kwargs, queue=Queue.RISK.value, expires=3600
        )
    )
    return JobQueued(task_id=str(result.id))


class ModelOut(BaseModel):
    version: str
    created_at: datetime
    path: str
    alias: str | None
    needs_retraining: bool
    metrics: dict[str, Any]


class ModelsOut(BaseModel):
    disclaimer: str = DISCLAIMER
    models: list[ModelOut]


class TrainingJobOut(BaseModel):
    id: uuid.UUID
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    model_version: str | None
    promoted: bool
    report: dict[str, Any]
    error: str | None


@router.post("/train", response_model=JobQueued, status_code=202)
async def train_now(_: Admin) -> JobQueued:
    """Queue a training run: the candidate is promoted only if it beats the rule baseline and
    the champion on the same held-out window (GET /v1/models/training-jobs shows the report)."""
    result = await anyio.to_thread.run_sync(
        lambda: celery_app.send_task(
            TaskName.RISK_TRAIN, kwargs={"trigger": "api"}, queue=Queue.RISK.value, expires=3600
        )
    )
    return JobQueued(task_id=str(result.id))


@router.get("", response_model=ModelsOut)
async def list_models(_: Admin, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> ModelsOut:
    """Model versions, newest first; `alias` is `champion` on the one that scores."""
    rows = await model_rows(get_engine(), limit)
    return ModelsOut(models=[ModelOut.model_validate(r, from_attributes=True) for r in rows])


@router.get("/training-jobs", response_model=list[TrainingJobOut])
async def list_training_jobs(
    _: Admin, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[dict[str, Any]]:
    """Training runs, newest first, with their reports (metrics and the comparison)."""
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            select(TrainingJobRow).order_by(TrainingJobRow.started_at.desc()).limit(limit)
        )
        return [dict(r._mapping) for r in rows]
