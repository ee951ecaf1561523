"""The API down, slow to answer or asking to back off: nothing acknowledged twice, nothing lost."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mindlake_client import DataLakeLogger
from mindlake_client.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests import factories
from tests.client.conftest import (
    Api,
    ThreadedServer,
    outbox_ids,
    spilled_lines,
    wait_for_outbox,
    wait_spill_empty,
)
from tests.conftest import _free_port

pytestmark = pytest.mark.integration

FAST_RETRIES: dict[str, Any] = {
    "max_attempts": 2,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "spill_retry_max_s": 0.3,
    "connect_timeout_s": 0.5,
    "flush_interval_s": 60.0,
}


async def test_api_down_then_up_spills_then_delivers_each_entry_once(
    api_starter: Callable[[int], Api], api_key: str, tmp_path: Path
) -> None:
    port = _free_port()  # nothing listens here yet
    spill = tmp_path / "spill"
    logger = DataLakeLogger(f"http://127.0.0.1:{port}", api_key, spill_dir=spill, **FAST_RETRIES)
    try:
        ids = logger.log_batch([factories.lyfbot() for _ in range(30)])
        logger.flush(timeout_s=10)
        down = logger.health_check()
        assert not down.reachable and down.state == "down"
        assert down.spilled == 30 and spilled_lines(spill) == 30 and down.buffered == 0
        assert down.last_error and "ConnectError" in down.last_error

        more = logger.log_batch([factories.mood() for _ in range(5)])  # still down: spilled
        logger.flush(timeout_s=10)
        assert spilled_lines(spill) == 35

        api_starter(port)
        every = [str(i) for i in ids + more]
        assert len(await wait_for_outbox(every, within_s=15)) == 35
        await wait_spill_empty(spill, within_s=5)
        up = logger.health_check()
    finally:
        logger.shutdown()
    assert up.reachable and up.state == "up" and up.spilled == 0
    assert spilled_lines(spill) == 0
    assert up.counters.accepted == 35 and up.counters.duplicate == 0
    assert up.counters.resent == 35 and up.counters.dropped == 0
    assert sorted(await outbox_ids(every)) == sorted(every)  # one row each


async def test_shutdown_while_down_keeps_everything_for_the_next_process(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    """A service shut down during an outage spills its buffer; the next start resends it.
    A crash after the API committed but before the spill file was deleted resends it again:
    the API counts those as duplicates (same client-set event_id), the outbox holds one each."""
    spill = tmp_path / "spill"
    dead = f"http://127.0.0.1:{_free_port()}"
    first = DataLakeLogger(dead, api_key, spill_dir=spill, **FAST_RETRIES)
    ids = [str(i) for i in first.log_batch([factories.journal() for _ in range(20)])]
    first.shutdown(timeout_s=2)
    assert spilled_lines(spill) == 20
    crash_copy = tmp_path / "copy"
    shutil.copytree(spill, crash_copy)

    second = DataLakeLogger(ingest_api.url, api_key, spill_dir=spill, **FAST_RETRIES)
    try:
        assert len(await wait_for_outbox(ids, within_s=10)) == 20
        second.flush(timeout_s=5)
    finally:
        second.shutdown()
    assert spilled_lines(spill) == 0 and second.counters.accepted == 20

    for path in crash_copy.iterdir():  # as if the delete had not happened
        shutil.copy(path, spill / path.name)
    third = DataLakeLogger(ingest_api.url, api_key, spill_dir=spill, **FAST_RETRIES)
    try:
        await wait_spill_empty(spill, within_s=10)
    finally:
        third.shutdown()
    assert third.counters.duplicate == 20 and third.counters.accepted == 0
    assert sorted(await outbox_ids(ids)) == sorted(ids)


class FlakyApi:
    """A test double of POST /v1/logs: answers the scripted statuses first, then 202."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        self.script = list(script)
        self.arrivals: list[float] = []
        self.entries = 0
        self.app = Starlette(routes=[Route("/v1/logs", self.post, methods=["POST"])])

    async def post(self, request: Request) -> Response:
        import gzip
        import json

        self.arrivals.append(time.monotonic())
        body = json.loads(gzip.decompress(await request.body()))
        if self.script:
            status, headers = self.script.pop(0)
            return JSONResponse({"title": "busy"}, status_code=status, headers=headers)
        count = len(body["entries"])
        self.entries += count
        ids = [e["event_id"] for e in body["entries"]]
        reply = {"accepted": count, "duplicate": 0, "rejected": 0, "errors": [], "event_ids": ids}
        return JSONResponse(reply, status_code=202)


def spy(monkeypatch: pytest.MonkeyPatch, name: str, note: Callable[..., Any]) -> None:
    """Note each call of an Engine method (and what `note` reads), then run the real one."""
    real = getattr(Engine, name)

    async def pause(self: Engine, seconds: float) -> bool:
        note(self, seconds)
        return bool(await real(self, seconds))

    def mark_down(self: Engine, retry_after: float | None) -> None:
        real(self, retry_after)
        note(self, retry_after)

    monkeypatch.setattr(Engine, name, pause if name == "_pause" else mark_down)


def test_retry_after_on_503_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait before the retry is exactly Retry-After (the schedule, not a stopwatch):
    without it the backoff here is a random wait of at most 0.05 s."""
    waits: list[float] = []
    spy(monkeypatch, "_pause", lambda _, seconds: waits.append(seconds))
    api = FlakyApi([(503, {"Retry-After": "1"})])
    with ThreadedServer(api.app) as server:
        settings = {**FAST_RETRIES, "max_attempts": 3}
        with DataLakeLogger(server.url, "mlk_a_b", spill_dir=tmp_path, **settings) as logger:
            logger.log_batch([factories.mood() for _ in range(5)])
            logger.flush(timeout_s=10)
            counters = logger.counters
    assert len(api.arrivals) == 2 and waits == [1.0]
    assert api.entries == 5 and counters.retries == 1 and counters.spilled == 0


def test_a_long_retry_after_on_429_spills_and_resends_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wait longer than max_inline_wait_s is not spent holding the batch: it goes to disk
    and the next attempt comes once Retry-After has passed."""
    down_until: list[float] = []  # the end of each pause the engine set itself
    spy(monkeypatch, "_mark_down", lambda engine, _: down_until.append(engine._down_until))
    api = FlakyApi([(429, {"Retry-After": "1"})])
    with ThreadedServer(api.app) as server:
        settings = {**FAST_RETRIES, "max_inline_wait_s": 0.2}
        with DataLakeLogger(server.url, "mlk_a_b", spill_dir=tmp_path, **settings) as logger:
            logger.log_batch([factories.mood() for _ in range(5)])
            logger.flush(timeout_s=10)
            assert logger.counters.spilled == 5
            deadline = time.monotonic() + 5
            # the server counts the entries before the client has read the reply
            while (api.entries < 5 or logger.counters.resent < 5) and time.monotonic() < deadline:
                time.sleep(0.02)
            counters = logger.counters
    assert api.entries == 5 and counters.resent == 5 and spilled_lines(tmp_path) == 0
    assert len(down_until) == 1 and len(api.arrivals) == 2
    # the pause was Retry-After long, and the resend did not come before its end
    assert down_until[0] - api.arrivals[0] >= 1.0 and api.arrivals[1] >= down_until[0]


def test_server_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    api = FlakyApi([(500, {}), (502, {}), (408, {})])
    with ThreadedServer(api.app) as server:
        settings = {**FAST_RETRIES, "max_attempts": 4}
        with DataLakeLogger(server.url, "mlk_a_b", spill_dir=tmp_path, **settings) as logger:
            logger.log_batch([factories.mood() for _ in range(3)])
            logger.flush(timeout_s=10)
            counters = logger.counters
    assert len(api.arrivals) == 4 and api.entries == 3
    assert counters.retries == 3 and counters.failed_requests == 3 and counters.spilled == 0
