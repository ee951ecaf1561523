"""Admin API of embedding runs: start a sync or a reconcile, list the runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from libs.common.auth import Principal, Scope, require_scope
from libs.common.contracts import Queue, TaskName
from libs.common.db import get_engine
from services.embedding.sync.models import RunRow
from services.embedding.worker import celery_app

router = APIRouter(prefix="/v1/embedding", tags=["embedding runs"])
Admin = Annotated[Principal, require_scope(Scope.ADMIN)]
TASKS = {"sync": TaskName.EMBEDDING_SYNC, "reconcile": TaskName.EMBEDDING_RECONCILE}


class RunOut(BaseModel):
    id: uuid.UUID
    kind: str
    collection: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    table_version: int | None
    counts: dict[str, Any]
    error: str | None


class RunQueued(BaseModel):
    kind: str
    task_id: str


class RunStart(BaseModel):
    kind: Literal["sync", "reconcile"] = "sync"


@router.get("/runs", response_model=list[RunOut])
async def list_runs(
    _: Admin, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[dict[str, Any]]:
    """The latest runs, newest first."""
    async with get_engine().connect() as conn:
        rows = await conn.execute(select(RunRow).order_by(RunRow.started_at.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


@router.post("/runs", response_model=RunQueued, status_code=202)
async def start_run(_: Admin, body: RunStart | None = None) -> RunQueued:
    """Queue a sync (what landed since the watermark) or a reconcile now."""
    kind = (body or RunStart()).kind
    result = await anyio.to_thread.run_sync(
        lambda: celery_app.send_task(TASKS[kind], queue=Queue.EMBEDDING.value, expires=3600)
    )
    return RunQueued(kind=kind, task_id=str(result.id))
