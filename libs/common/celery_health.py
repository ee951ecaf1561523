"""`celery_queue_length` and `celery_worker_up`, under celery-exporter's names, from MindLake
itself: the published exporters are stale, and these two need no task events.

- **Heartbeats.** Every worker's main process refreshes `mindlake:celery:alive:<hostname>`
  every `celery_heartbeat_s`, with a time to live of three beats, and records itself in a
  sorted set by last beat. A worker killed with SIGKILL stops beating, its key expires and it
  shows as down (0); one shut down cleanly deletes its key at once.
- **The collector** (served on every worker's /metrics) reads, at scrape time, each queue's
  length (the Redis list Celery's transport keeps per queue) and every worker seen within the
  last `FORGET_S`: up (1) while its key lives, else down (0). Older ones are forgotten, so a
  scaled-down worker stops being reported after an hour instead of alerting forever.
Labels are queue names and worker hostnames: no user data.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator

import redis
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)
ALIVE = "mindlake:celery:alive:"
SEEN = "mindlake:celery:workers"  # sorted set: hostname -> last beat (unix time)
FORGET_S = 3600
TIMEOUT_S = 1.0


def _client(url: str) -> redis.Redis[bytes]:
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def beat_once(client: redis.Redis[bytes], hostname: str, interval_s: float) -> None:
    now = time.time()
    pipe = client.pipeline()
    pipe.set(ALIVE + hostname, int(now), px=int(interval_s * 3000))
    pipe.zadd(SEEN, {hostname: now})
    pipe.execute()


class Heartbeat:
    """Beats from a daemon thread until `stop()`, which deletes the key (a clean shutdown
    shows as down at once)."""

    def __init__(self, url: str, hostname: str, interval_s: float) -> None:
        self.client, self.hostname, self.interval_s = _client(url), hostname, interval_s
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="mindlake-heartbeat", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                beat_once(self.client, self.hostname, self.interval_s)
            except redis.RedisError as exc:  # Redis down: the worker shows down, as it should
                log.warning("celery_heartbeat_failed", error_type=type(exc).__name__)
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(redis.RedisError):
            self.client.delete(ALIVE + self.hostname)


class CeleryHealthCollector(Collector):
    def __init__(self, url: str, queues: Iterable[str]) -> None:
        self.url, self.queues = url, tuple(queues)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lengths = GaugeMetricFamily(
            "celery_queue_length", "Tasks waiting in the queue", labels=["queue_name"]
        )
        up = GaugeMetricFamily(
            "celery_worker_up", "1 while the worker beats, 0 once it stopped", labels=["hostname"]
        )
        try:
            client = _client(self.url)
            for queue in self.queues:
                lengths.add_metric([queue], float(client.llen(queue)))
            client.zremrangebyscore(SEEN, "-inf", time.time() - FORGET_S)
            hosts = [h.decode() for h in client.zrange(SEEN, 0, -1)]
            alive = client.mget([ALIVE + h for h in hosts]) if hosts else []
            for host, beat in zip(hosts, alive, strict=True):
                up.add_metric([host], 0.0 if beat is None else 1.0)
        except redis.RedisError as exc:  # no figures rather than wrong ones
            log.warning("celery_health_unavailable", error_type=type(exc).__name__)
            return
        yield lengths
        yield up
