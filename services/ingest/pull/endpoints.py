"""Admin API of pull jobs: /v1/pull-jobs CRUD and run-now. Thin: validate, store, reply."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal, Scope, require_scope
from libs.common.crypto import make_provider
from libs.common.db import get_session
from libs.common.errors import Conflict, NotFound, ServiceError, Unprocessable
from libs.common.validation import PG_BIGINT_MAX
from services.ingest.config import IngestSettings, get_ingest_settings
from services.ingest.pull import repository
from services.ingest.pull.addresses import HostPolicy, creation_refusal
from services.ingest.pull.credentials import sealed_columns
from services.ingest.pull.dispatch import send_run
from services.ingest.pull.models import PullJob
from services.ingest.pull.schedule import next_run
from services.ingest.pull.schemas import (
    HttpSource,
    PullJobCreate,
    PullJobOut,
    PullJobUpdate,
    PullRunOut,
    Source,
    masked_source,
    stored_source,
    table_path,
)
from services.ingest.worker import celery_app

AdminPrincipal = Annotated[Principal, require_scope(Scope.ADMIN)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[IngestSettings, Depends(get_ingest_settings)]
JobId = Annotated[int, Path(ge=1, le=PG_BIGINT_MAX, description="a pull job's id")]
router = APIRouter(prefix="/v1/pull-jobs", tags=["pull jobs"])


class NameTaken(Conflict):
    """A pull job of that name exists."""


def reply(job: PullJob) -> PullJobOut:
    return PullJobOut(
        id=job.id,
        name=job.name,
        table=table_path(job.name),
        source=masked_source(job.source),
        schedule=job.schedule,
        landing=job.landing,
        status=job.status,
        max_errors=job.max_errors,
        error_count=job.error_count,
        last_error=job.last_error,
        last_run_at=job.last_run_at,
        next_run_at=job.next_run_at,
        created_at=job.created_at,
    )


async def checked(source: Source, settings: IngestSettings) -> None:
    """An HTTP source's URL may be called: its host allowed, its address public (the run
    checks again after resolving the name)."""
    if not isinstance(source, HttpSource):
        return
    reason = await creation_refusal(
        source.url, HostPolicy.of(settings), timeout_s=settings.ingest_pull_timeout_s
    )
    if reason is not None:
        raise Unprocessable(
            f"the source URL is refused: {reason}",
            errors=[{"field": "source.url", "reason": reason}],
        )


def store_source(job: PullJob, source: Source, settings: IngestSettings) -> None:
    """The redacted source in `source`, its secrets sealed in `secret_key` and `secrets`."""
    shown, secrets = stored_source(source)
    job.source = shown
    sealed = sealed_columns(secrets, job_name=job.name, provider=make_provider(settings))
    job.secret_key, job.secrets = sealed["secret_key"], sealed["secrets"]


async def found(session: AsyncSession, job_id: int) -> PullJob:
    job = await repository.get_job(session, job_id)
    if job is None:
        raise NotFound(f"no pull job with id {job_id}")
    return job


@router.post("", status_code=201, summary="Create a pull job")
async def create_job(
    body: PullJobCreate, _: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> PullJobOut:
    if await repository.name_taken(session, body.name):
        raise NameTaken(
            "a pull job has this name", errors=[{"field": "name", "reason": "already taken"}]
        )
    await checked(body.source, settings)
    schedule = body.schedule.model_dump(exclude_none=True)
    job = PullJob(
        name=body.name,
        kind=body.source.kind,
        schedule=schedule,
        landing=body.landing.model_dump(),
        status=body.status,
        max_errors=body.max_errors,
        error_count=0,
        next_run_at=next_run(schedule, datetime.now(UTC)),
    )
    store_source(job, body.source, settings)
    return reply(await repository.add_job(session, job))


@router.get("", summary="List pull jobs")
async def list_jobs(
    _: AdminPrincipal,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(active|paused|failed)$")] = None,
) -> dict[str, list[PullJobOut]]:
    return {"jobs": [reply(j) for j in await repository.list_jobs(session, status)]}


@router.get("/{job_id}", summary="One pull job and its recent runs")
async def get_job(job_id: JobId, _: AdminPrincipal, session: SessionDep) -> dict[str, Any]:
    job = await found(session, job_id)
    runs = await repository.recent_runs(session, job_id, 20)
    return {
        "job": reply(job),
        "runs": [PullRunOut.model_validate(r, from_attributes=True) for r in runs],
    }


@router.patch("/{job_id}", summary="Change a pull job (the name is fixed: it names the table)")
async def update_job(
    job_id: JobId,
    body: PullJobUpdate,
    _: AdminPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> PullJobOut:
    job = await found(session, job_id)
    if body.source is not None:
        if body.source.kind != job.kind:
            raise ServiceError(
                "a job's source kind cannot change",
                errors=[{"field": "source.kind", "reason": f"must stay '{job.kind}'"}],
            )
        await checked(body.source, settings)
        store_source(job, body.source, settings)
    if body.schedule is not None:
        job.schedule = body.schedule.model_dump(exclude_none=True)
        job.next_run_at = next_run(job.schedule, datetime.now(UTC))
    if body.landing is not None:
        job.landing = body.landing.model_dump()
    if body.max_errors is not None:
        job.max_errors = body.max_errors
    if body.status is not None:
        if body.status == "active" and job.status != "active":
            job.error_count, job.last_error = 0, None
            job.next_run_at = next_run(job.schedule, datetime.now(UTC))
        job.status = body.status
    job.updated_at = datetime.now(UTC)
    await session.flush()
    return reply(job)


@router.delete("/{job_id}", status_code=204, summary="Delete a pull job (its table stays)")
async def delete_job(job_id: JobId, _: AdminPrincipal, session: SessionDep) -> None:
    if not await repository.delete_job(session, job_id):
        raise NotFound(f"no pull job with id {job_id}")


@router.post("/{job_id}/run", status_code=202, summary="Run a pull job now (via Celery)")
async def run_now(
    job_id: JobId, _: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    await found(session, job_id)
    task_id = send_run(
        celery_app, job_id, trigger="manual", expires_s=settings.celery_task_expires_s
    )
    return {"job_id": job_id, "task_id": task_id}
