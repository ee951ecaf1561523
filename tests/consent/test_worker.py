"""A real consent worker: it consumes `consent.changed` and runs `consent.backup`."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from libs.common.consent import generation_key
from libs.common.contracts import Queue, TaskName
from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from libs.common.subjects import subject_key

pytestmark = [pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lake_root(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'lake'}"


@pytest.fixture
def worker(tmp_path: Path, lake_root: str, redis_url: str) -> Iterator[Path]:
    log_path = tmp_path / "consent-worker.log"
    cmd = [
        sys.executable, "-m", "celery", "-A", "services.consent.worker", "worker",
        "-Q", "consent", "--pool", "solo", "--loglevel", "INFO",
        "--without-heartbeat", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    env = {**os.environ, "MINDLAKE_LAKE_ROOT": lake_root}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    yield log_path
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


async def eventually(check: object, within_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(log_path.read_text()[-3000:])  # noqa: ASYNC240 - on failure only


async def test_the_worker_consumes_changes_and_backs_up(
    admin: httpx.AsyncClient, user_id: str, worker: Path, lake_root: str, redis_url: str
) -> None:
    r = redis.Redis.from_url(redis_url)
    await admin.put(
        f"/v1/consent/{user_id}", json={"purposes": {"research": True}, "policy_version": "1"}
    )
    # The API bumped the user's generation once; the worker's handling of the event bumps it
    # again (its idempotent re-invalidation): proof the event was delivered and consumed.
    generation = generation_key(subject_key(user_id, CommonSettings()))
    await eventually(lambda: int(r.get(generation) or 0) >= 2, 30, worker)

    from services.consent.worker import celery_app

    celery_app.send_task(TaskName.CONSENT_BACKUP, queue=Queue.CONSENT.value, expires=60)
    lake = Lake(CommonSettings(lake_root=lake_root))
    path = f"backups/consent_records/{datetime.now(UTC).date()}_consent_backup.json.gz"
    found: list[dict[str, Any]] = []

    def backed_up() -> bool:
        try:  # the object exists from the first byte; it is done when it parses
            found.append(orjson.loads(gzip.decompress(lake.read_bytes(path))))
        except (OSError, EOFError, orjson.JSONDecodeError):
            return False
        return True

    await eventually(backed_up, 30, worker)
    assert any(e["user_id"] == user_id for e in found[0]["entries"])
