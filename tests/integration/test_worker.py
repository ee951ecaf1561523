"""A real Celery worker flushing the outbox, killed with SIGKILL mid-flush and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from services.ingest.config import IngestSettings
from tests import factories

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def start_worker(settings: IngestSettings, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MINDLAKE_LAKE_ROOT": settings.lake_root,
        "MINDLAKE_INGEST_FLUSH_BATCH_ROWS": str(settings.ingest_flush_batch_rows),
        "MINDLAKE_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "MINDLAKE_S3_ACCESS_KEY_ID": "test",
        "MINDLAKE_S3_SECRET_ACCESS_KEY": "test",
        "MINDLAKE_S3_ALLOW_HTTP": "true",
    }
    if not settings.s3_endpoint_url:
        env.pop("MINDLAKE_S3_ENDPOINT_URL")
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "services.ingest.worker",
        "worker",
        "-Q",
        "ingest",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]
    log = log_path.open("ab")
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


async def scalar(sql: str) -> int:
    async with get_engine().connect() as conn:
        return int(await conn.scalar(text(sql)) or 0)


async def wait_for(predicate_sql: str, within_s: float, worker_log: Path) -> None:
    import asyncio

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await scalar(predicate_sql):
            return
        await asyncio.sleep(0.2)
    tail = worker_log.read_text()[-3000:]  # noqa: ASYNC240 - only on failure
    raise AssertionError(f"timed out waiting for {predicate_sql}\n{tail}")


def send_flush() -> None:
    from services.ingest.worker import celery_app

    celery_app.send_task("ingest.flush", queue="ingest", expires=600)


def lake_event_ids(settings: IngestSettings) -> list[str]:
    table = Lake(settings).delta_table(RAW_EVENTS)
    assert table is not None
    return table.to_pyarrow_table(columns=["event_id"]).column("event_id").to_pylist()


async def test_worker_killed_mid_flush_loses_nothing_and_duplicates_nothing(
    client: Any, lake_settings: IngestSettings, tmp_path: Path
) -> None:
    settings = lake_settings.model_copy(update={"ingest_flush_batch_rows": 400})
    total = 6000
    for _ in range(total // 1000):
        entries = [factories.journal() for _ in range(1000)]
        reply = await client.post("/v1/logs", json={"entries": entries})
        assert reply.json()["accepted"] == 1000

    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path)
    try:
        send_flush()
        # Kill once at least one batch has landed while another is claimed but not landed.
        await wait_for(
            "SELECT (SELECT count(*) FROM ingest.flush_batches WHERE state = 'landed') >= 1"
            " AND (SELECT count(*) FROM ingest.flush_batches WHERE state = 'claimed') = 1",
            within_s=120,
            worker_log=log_path,
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)

    assert await scalar("SELECT count(*) FROM ingest.outbox WHERE flushed_at IS NULL") > 0
    assert await scalar("SELECT count(*) FROM ingest.flush_batches WHERE state = 'claimed'") == 1

    restarted = start_worker(settings, log_path)
    try:
        send_flush()
        await wait_for(
            "SELECT count(*) = 0 FROM ingest.outbox WHERE flushed_at IS NULL",
            within_s=240,
            worker_log=log_path,
        )
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        restarted.wait(timeout=30)

    ids = lake_event_ids(settings)
    assert len(ids) == total
    assert len(set(ids)) == total
    assert await scalar("SELECT count(*) FROM ingest.flush_batches WHERE state = 'claimed'") == 0
