"""celery_queue_length and celery_worker_up over real Redis and a real Celery worker: a
queue's waiting tasks are counted, a live worker is up on its own /metrics, and one killed
with SIGKILL shows as down once its heartbeat expires (and is served by no one's port)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from libs.common.celery_health import ALIVE, SEEN, CeleryHealthCollector
from tests.conftest import _free_port

REPO = Path(__file__).resolve().parents[2]


def samples(collector: CeleryHealthCollector) -> dict[tuple[str, str], float]:
    return {(m.name, next(iter(s.labels.values()))): s.value
            for m in collector.collect() for s in m.samples}  # fmt: skip


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_queue_lengths_are_counted(redis_url: str) -> None:
    queue = f"test-queue-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    client.lpush(queue, b"a", b"b", b"c")
    try:
        found = samples(CeleryHealthCollector(redis_url, [queue]))
        assert found[("celery_queue_length", queue)] == 3
    finally:
        client.delete(queue)


def test_a_worker_killed_with_sigkill_shows_down(redis_url: str, tmp_path: Path) -> None:
    hostname = f"health-{uuid.uuid4().hex[:8]}@test"
    port = _free_port()
    env = {**os.environ, "MINDLAKE_REDIS_URL": redis_url, "MINDLAKE_METRICS_PORT": str(port),
           "MINDLAKE_CELERY_HEARTBEAT_S": "0.5"}  # fmt: skip
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "services.catalog.worker", "worker", "-Q",
         f"unused-{uuid.uuid4().hex[:6]}", "--pool", "solo", "--without-heartbeat",
         "--without-gossip", "--without-mingle", "-n", hostname],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    collector = CeleryHealthCollector(redis_url, [])
    try:
        wait_for(lambda: samples(collector).get(("celery_worker_up", hostname)) == 1, "up")
        served = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert f'celery_worker_up{{hostname="{hostname}"}} 1.0' in served
        assert 'celery_queue_length{queue_name="catalog"}' in served
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        wait_for(lambda: samples(collector).get(("celery_worker_up", hostname)) == 0, "down")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        log.close()
        client = redis.Redis.from_url(redis_url)
        client.zrem(SEEN, hostname)
        client.delete(ALIVE + hostname)
