"""`compliance.chain_audit` through a real Celery worker on the compliance queue."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from libs.common.audit import audit
from libs.common.contracts import Queue, TaskName
from libs.common.db import get_engine
from services.compliance.audit.service import verify_chain
from tests.compliance.helpers import entry

pytestmark = [pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]


def start_worker(log_path: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "celery", "-A", "services.compliance.worker", "worker",
        "-Q", Queue.COMPLIANCE.value, "--pool", "solo", "--loglevel", "INFO",
        "--without-heartbeat", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        return subprocess.Popen(
            cmd, cwd=REPO, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


async def test_worker_chains_the_outbox(clean_audit: None, redis_url: str, tmp_path: Path) -> None:
    await audit(*(entry(i) for i in range(50)))
    log_path = tmp_path / "worker.log"
    worker = start_worker(log_path)
    try:
        from services.compliance.worker import celery_app

        celery_app.send_task(TaskName.COMPLIANCE_CHAIN_AUDIT, expires=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with get_engine().connect() as conn:
                chained = await conn.scalar(text("SELECT count(*) FROM compliance.audit_log"))
            if chained == 50:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(log_path.read_text()[-3000:])
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    report = await verify_chain(get_engine(), page_rows=1000)
    assert report.ok and report.checked == 50
