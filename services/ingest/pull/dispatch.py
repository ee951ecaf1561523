"""The beat side: claim due jobs, move their next run on, send one run task per job."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Celery

from libs.common.contracts import Queue, TaskName
from libs.common.db import one_shot_engine
from services.ingest.config import IngestSettings
from services.ingest.pull import repository
from services.ingest.pull.schedule import next_run


async def claim_due_jobs(settings: IngestSettings, *, limit: int = 100) -> list[int]:
    """Due active jobs, their next run already advanced (committed) so no beat sends twice."""
    engine = one_shot_engine(settings.database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            due = await repository.claim_due(conn, now, limit)
            for job_id, schedule in due:
                await repository.set_next_run(conn, job_id, next_run(schedule, now))
    finally:
        await engine.dispose()
    return [job_id for job_id, _ in due]


def send_run(app: Celery, job_id: int, *, trigger: str, expires_s: float) -> str:
    result = app.send_task(
        TaskName.INGEST_PULL_RUN,
        kwargs={"job_id": job_id, "trigger": trigger},
        queue=Queue.INGEST.value,
        expires=expires_s,
    )
    return str(result.id)
