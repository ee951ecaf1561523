"""The lakehouse document's ingestion jobs over GraphQL: they are ingest's pull jobs, reached
through ingest's API (`MINDLAKE_CATALOG_INGEST_URL`) with the caller's own key, never through
ingest's tables. Ingest decides who may manage them (admin keys) and validates every field;
its refusals come back as GraphQL errors with ingest's reason.

A job's target asset is always its table, `raw/pulled/<name>`: `targetAssetId` is that
asset's id, and a different one is refused. `transformationLogic` is declined: pulled
records land as they are, PII-protected on landing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import httpx
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from libs.common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)
from libs.common.lake_tables import pulled_table
from services.catalog.assets.service import asset_id
from services.catalog.config import get_catalog_settings

PULL_JOBS = "/v1/pull-jobs"
_BY_STATUS: dict[int, type[ServiceError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound,
                                             409: Conflict}  # fmt: skip


@strawberry.type(description="A pull job of ingest: a source landed into raw/pulled/<name>")
class IngestionJob:
    id: strawberry.ID
    name: str
    source: JSON = strawberry.field(description="The source, secrets masked")
    target_asset_id: strawberry.ID
    schedule: JSON | None
    landing: JSON
    status: str
    last_run: datetime | None
    next_run: datetime | None
    last_error: str | None
    error_count: int
    max_errors: int

    @classmethod
    def from_reply(cls, job: dict[str, Any]) -> IngestionJob:
        return cls(
            id=strawberry.ID(str(job["id"])), name=job["name"], source=job["source"],
            target_asset_id=strawberry.ID(str(asset_id(pulled_table(job["name"])))),
            schedule=job["schedule"], landing=job["landing"], status=job["status"],
            last_run=_time(job.get("last_run_at")), next_run=_time(job.get("next_run_at")),
            last_error=job.get("last_error"), error_count=job["error_count"],
            max_errors=job["max_errors"],
        )  # fmt: skip


@strawberry.type(description="A run asked for: ingest's Celery task that runs the job")
class JobExecutionResult:
    job_id: strawberry.ID
    task_id: str
    status: str = "queued"


@strawberry.input(description="A new pull job (ingest's PullJobCreate)")
class CreateIngestionJobInput:
    name: str
    source: JSON
    schedule: JSON
    target_asset_id: strawberry.ID | None = None
    landing: JSON | None = None
    max_errors: int | None = None
    status: str | None = None
    transformation_logic: str | None = None


@strawberry.input(description="Changes to a pull job (ingest's PullJobUpdate)")
class UpdateIngestionJobInput:
    source: JSON | None = None
    schedule: JSON | None = None
    landing: JSON | None = None
    max_errors: int | None = None
    status: str | None = None
    transformation_logic: str | None = None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _job_id(value: strawberry.ID) -> int:
    text = str(value)
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise Unprocessable("an ingestion job id is a positive integer")
    return int(text)


async def _ingest(info: Info[Any, None], method: str, path: str, **kw: Any) -> Any:
    """Ingest's reply to a call made with the caller's key; its refusal as our error."""
    request = info.context.request
    headers = {"Authorization": request.headers.get("authorization", "")}
    settings = get_catalog_settings()
    try:
        client = httpx.AsyncClient(
            base_url=settings.catalog_ingest_url, headers=headers,
            timeout=settings.catalog_ingest_timeout_s,
        )  # fmt: skip
        async with client:
            reply = await client.request(method, path, **kw)
    except httpx.HTTPError:
        raise ServiceUnavailable("the ingest API is unreachable") from None
    if reply.status_code >= 500:
        raise ServiceUnavailable(f"the ingest API answered {reply.status_code}")
    if reply.status_code >= 400:
        problem = _problem(reply)
        reasons = "; ".join(f"{e.get('field')}: {e.get('reason')}" for e in problem["errors"])
        detail = str(problem.get("detail") or reply.reason_phrase)
        message = f"ingest refused it: {detail}" + (f" ({reasons})" if reasons else "")
        raise _BY_STATUS.get(reply.status_code, Unprocessable)(message)
    return reply.json() if reply.content else None


def _problem(reply: httpx.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        body = {}
    errors = body.get("errors") if isinstance(body, dict) else None
    return {"detail": body.get("detail") if isinstance(body, dict) else None,
            "errors": [e for e in errors or [] if isinstance(e, dict)]}  # fmt: skip


def _declined(logic: str | None) -> None:
    if logic is not None:
        raise Unprocessable(
            "transformationLogic is not supported: pulled records land as they are "
            "(PII-protected on landing)"
        )


def _body(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


async def get_ingestion_job(info: Info[Any, None], id: strawberry.ID) -> IngestionJob | None:
    job_id = _job_id(id)
    await info.context.reader(f"ingest/pull-jobs/{job_id}")
    try:
        job = await _ingest(info, "GET", f"{PULL_JOBS}/{job_id}")
    except NotFound:
        return None
    return IngestionJob.from_reply(job["job"])  # ingest's reply: the job and its runs


async def list_ingestion_jobs(
    info: Info[Any, None], status: str | None = None, limit: int | None = 100,
    offset: int | None = 0,
) -> list[IngestionJob]:  # fmt: skip
    limit, offset = 100 if limit is None else limit, 0 if offset is None else offset
    if not 1 <= limit <= 1000 or offset < 0:
        raise Unprocessable("limit is 1 to 1000 and offset not negative")
    await info.context.reader("ingest/pull-jobs")
    params = {"status": status} if status is not None else {}
    jobs = (await _ingest(info, "GET", PULL_JOBS, params=params))["jobs"]
    return [IngestionJob.from_reply(j) for j in jobs[offset : offset + limit]]


async def create_ingestion_job(
    info: Info[Any, None], input: CreateIngestionJobInput
) -> IngestionJob:
    _declined(input.transformation_logic)
    target = str(asset_id(pulled_table(input.name)))
    if input.target_asset_id is not None and str(input.target_asset_id) != target:
        raise Unprocessable(f"a pull job's target is its table raw/pulled/{input.name} ({target})")
    await info.context.writer("ingest/pull-jobs")
    body = _body({"name": input.name, "source": input.source, "schedule": input.schedule,
                  "landing": input.landing, "max_errors": input.max_errors,
                  "status": input.status})  # fmt: skip
    return IngestionJob.from_reply(await _ingest(info, "POST", PULL_JOBS, json=body))


async def update_ingestion_job(
    info: Info[Any, None], id: strawberry.ID, input: UpdateIngestionJobInput
) -> IngestionJob:
    job_id = _job_id(id)
    _declined(input.transformation_logic)
    await info.context.writer(f"ingest/pull-jobs/{job_id}")
    body = _body({"source": input.source, "schedule": input.schedule, "landing": input.landing,
                  "max_errors": input.max_errors, "status": input.status})  # fmt: skip
    reply = await _ingest(info, "PATCH", f"{PULL_JOBS}/{job_id}", json=body)
    return IngestionJob.from_reply(reply)


async def run_ingestion_job(info: Info[Any, None], id: strawberry.ID) -> JobExecutionResult:
    job_id = _job_id(id)
    await info.context.writer(f"ingest/pull-jobs/{job_id}/run")
    reply = cast(dict[str, Any], await _ingest(info, "POST", f"{PULL_JOBS}/{job_id}/run"))
    return JobExecutionResult(job_id=strawberry.ID(str(reply["job_id"])), task_id=reply["task_id"])
