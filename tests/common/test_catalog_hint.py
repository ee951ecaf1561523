"""`asset_written`: the writers' hint to the catalog reaches the real Redis broker as a
`catalog.register` message on the `catalog` queue, and a broker that is down costs the writer
a warning, never an exception."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import redis

from libs.common.catalog import asset_written
from libs.common.contracts import Queue, TaskName
from libs.common.settings import get_settings
from tests.conftest import _free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Point the settings at a broker URL; the hints' producer follows the settings."""

    def point(url: str) -> None:
        monkeypatch.setenv("MINDLAKE_REDIS_URL", url)
        get_settings.cache_clear()

    yield point
    monkeypatch.undo()
    get_settings.cache_clear()


def _ids(client: redis.Redis[bytes], queue: str) -> set[str]:
    return {orjson.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)}


def test_the_hint_lands_on_the_catalog_queue(redis_url: str, broker: Callable[[str], None]) -> None:
    broker(redis_url)
    client = redis.Redis.from_url(redis_url)
    queue = Queue.CATALOG.value
    before = _ids(client, queue)

    asset_written("raw/events", service="ingest")

    mine: list[tuple[bytes, dict[str, Any]]] = []
    for raw in client.lrange(queue, 0, -1):
        message = orjson.loads(raw)
        if message["headers"]["id"] not in before:
            mine.append((raw, message))
    try:
        assert len(mine) == 1
        message = mine[0][1]
        assert message["headers"]["task"] == TaskName.CATALOG_REGISTER
        assert message["headers"]["expires"] is not None
        args, kwargs, _ = orjson.loads(base64.b64decode(message["body"]))
        assert args == []
        assert kwargs["path"] == "raw/events"
        assert kwargs["service"] == "ingest"
        assert kwargs["at"]
    finally:
        for raw, _ in mine:  # only this test's message: other tests share the queue
            client.lrem(queue, 1, raw)


def test_a_hint_from_a_thread_without_a_celery_app_still_lands(
    redis_url: str, broker: Callable[[str], None]
) -> None:
    """A pool thread has no current Celery app (its default one names AMQP on localhost):
    the hint must still reach the configured Redis."""
    broker(redis_url)
    client = redis.Redis.from_url(redis_url)
    before = _ids(client, Queue.CATALOG.value)
    thread = threading.Thread(target=asset_written, args=("raw/pulled/j1",),
                              kwargs={"service": "ingest"})  # fmt: skip
    thread.start()
    thread.join()
    mine = [raw for raw in client.lrange(Queue.CATALOG.value, 0, -1)
            if orjson.loads(raw)["headers"]["id"] not in before]  # fmt: skip
    try:
        assert len(mine) == 1
    finally:
        for raw in mine:
            client.lrem(Queue.CATALOG.value, 1, raw)


def test_a_broker_that_is_down_does_not_fail_the_writer(broker: Callable[[str], None]) -> None:
    broker(f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    started = time.monotonic()
    asset_written("raw/events", service="ingest")  # must return, not raise
    assert time.monotonic() - started < 60  # loose: only that it returns
