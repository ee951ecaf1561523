"""The beat's scheduled export over the real stack (Postgres, a local lake): one job per
period window however often the message is delivered (acks_late, a broker that hands an
unacknowledged message out again, a beat that sends twice): done is not run again, a job
still running elsewhere is left alone, and one whose worker died is run to the end."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from libs.common.db import get_engine, one_shot_engine
from services.export.config import ExportSettings
from services.export.jobs import repository, runner, tasks
from tests.export.service_helpers import spec


@pytest.fixture(autouse=True)
def settings(tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch) -> ExportSettings:
    local = ExportSettings(lake_root=f"file://{tmp_path / 'lake'}")
    monkeypatch.setattr(tasks, "get_export_settings", lambda: local)
    return local


async def jobs(key: str) -> list[Any]:
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            text("SELECT id, status, finished_at FROM export.exports WHERE schedule_key = :k"),
            {"k": key},
        )
        return list(rows)


async def test_a_redelivered_scheduled_export_makes_no_second_job() -> None:
    today = date(2025, 1, 10)  # each test its own window: the database is shared
    first = await tasks._run(None, "daily", today=today)
    assert first is not None and first["status"] == "done"
    [job] = await jobs("daily:2025-01-09:2025-01-09")
    assert str(job.id) == first["id"]

    assert await tasks._run(None, "daily", today=today) is None  # redelivered: not run again
    assert await jobs("daily:2025-01-09:2025-01-09") == [job]  # same row, same finished_at
    # the weekly export ending the same day is a window of its own
    weekly = await tasks._run(None, "weekly", today=today)
    assert weekly is not None and weekly["id"] != first["id"]
    assert len(await jobs("weekly:2025-01-03:2025-01-09")) == 1


async def test_a_job_whose_worker_died_runs_again_one_still_running_is_left_alone() -> None:
    key = "daily:2025-02-09:2025-02-09"
    async with get_engine().begin() as conn:  # the first delivery made the job, then ...
        job = await repository.create(conn, spec=spec(), requested_by="beat", schedule_key=key)
        await repository.start(conn, job)
    today = date(2025, 2, 10)

    # ... is still running on another worker (it holds the job's lock): leave it alone
    worker = one_shot_engine()
    async with worker.connect() as other:
        await other.execution_options(isolation_level="AUTOCOMMIT")
        assert await other.scalar(runner.RUN_LOCK, {"id": str(job)})
        assert await tasks._run(None, "daily", today=today) is None
        [row] = await jobs(key)
        assert row.id == job and row.status == "running"
    await worker.dispose()  # its connection closed, the lock with it, as when a worker dies

    # ... died: the redelivered message runs the same job to the end
    done = await tasks._run(None, "daily", today=today)
    assert done == {"id": str(job), "status": "done"}
    assert [r.status for r in await jobs(key)] == ["done"]


async def test_concurrent_deliveries_get_the_same_job() -> None:
    async def create() -> Any:
        async with get_engine().begin() as conn:
            return await repository.create(
                conn, spec=spec(), requested_by="beat", schedule_key="daily:2025-03-09:2025-03-09"
            )

    first, second = await asyncio.gather(create(), create())
    assert first == second
    async with get_engine().begin() as conn:  # jobs made on request have no key: no conflict
        a = await repository.create(conn, spec=spec(), requested_by="test")
        b = await repository.create(conn, spec=spec(), requested_by="test")
    assert a != b


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="monthly"):
        runner.period_range("monthly", date(2025, 1, 10))
