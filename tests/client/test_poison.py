"""An entry that makes the API fail (HTTP 500 for any batch holding it) does not stall the
others: the client isolates it, reports it, and everything else flows. An API failing for
everyone (500 while its database is down, 503, no answer) makes the client drop nothing."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mindlake_client import AsyncDataLakeLogger, DataLakeLogger, Rejection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests import factories
from tests.client.conftest import ThreadedServer, spilled_lines

pytestmark = pytest.mark.integration

SETTINGS: dict[str, Any] = {
    "max_attempts": 5,
    "poison_after": 3,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "spill_retry_max_s": 0.2,
    "connect_timeout_s": 0.5,
    "flush_interval_s": 60.0,
}


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(v) for v in value.values())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


class BuggyApi:
    """POST /v1/logs as the ingest API was before issue 10: any batch holding an entry with a
    NUL answers 500 (its dead-letter insert failed). `failing` makes every batch answer that
    status (an API whose database is down answers 500; a proxy in front of a dead one, 503)."""

    def __init__(self) -> None:
        self.delivered: dict[str, int] = {}  # event_id -> times acknowledged
        self.batches: list[list[str]] = []  # event ids of every request, in order
        self.failing: int | None = None
        self.app = Starlette(routes=[Route("/v1/logs", self.post, methods=["POST"])])

    async def post(self, request: Request) -> Response:
        entries = json.loads(gzip.decompress(await request.body()))["entries"]
        ids = [e["event_id"] for e in entries]
        self.batches.append(ids)
        if self.failing is not None:
            return JSONResponse({"title": "failing"}, status_code=self.failing)
        if any(has_nul(e) for e in entries):
            return JSONResponse({"title": "Internal error"}, status_code=500)
        for event_id in ids:
            self.delivered[event_id] = self.delivered.get(event_id, 0) + 1
        reply = {"accepted": len(ids), "duplicate": 0, "rejected": 0, "errors": []}
        return JSONResponse({**reply, "event_ids": ids}, status_code=202)

    def requests_holding(self, event_id: str) -> int:
        return sum(event_id in batch for batch in self.batches)


def poison_entry() -> dict[str, Any]:
    return factories.journal(text="a diary line with a NUL \x00 in it")


def wait_until(condition: Callable[[], bool], within_s: float = 15.0) -> bool:
    """Poll for a state the client reaches on its own (a bound, not a timing assertion)."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_poison_entry_goes_to_on_rejected_and_every_other_entry_is_delivered(
    tmp_path: Path,
) -> None:
    api = BuggyApi()
    rejected: list[Rejection] = []
    with ThreadedServer(api.app) as server:
        logger = DataLakeLogger(
            server.url, "mlk_a_b", spill_dir=tmp_path, on_rejected=rejected.extend, **SETTINGS
        )
        with logger:
            before = logger.log_batch([factories.mood() for _ in range(25)])
            poison = logger.log(poison_entry())
            after = logger.log_batch([factories.lyfbot() for _ in range(25)])
            logger.flush(timeout_s=20)
            health = logger.health_check()
            sent_with_poison = api.requests_holding(poison)
            # later entries flow, and the poison entry is never sent again
            later = logger.log_batch([factories.mood() for _ in range(10)])
            logger.flush(timeout_s=20)
            counters = logger.counters
    good = [str(i) for i in before + after + later]
    assert sorted(api.delivered) == sorted(good)  # all 60 good ones, the poison one never
    assert [r.event_id for r in rejected] == [poison]
    assert rejected[0].status == 500 and "makes the API fail" in rejected[0].reason
    assert rejected[0].entry()["text"].startswith("a diary line")  # as sent, for the caller
    assert counters.poisoned == 1 and counters.rejected == 1 and counters.dropped == 0
    assert health.state == "up" and health.spilled == 0 and health.buffered == 0
    assert api.requests_holding(poison) == sent_with_poison
    # three 500s for the batch, then alone: its own three (the limit), nothing unbounded
    assert 3 + 3 <= sent_with_poison <= 3 + 3 + 7


async def test_the_async_logger_isolates_a_poison_entry_too(tmp_path: Path) -> None:
    api = BuggyApi()
    rejected: list[Rejection] = []
    with ThreadedServer(api.app) as server:
        async with AsyncDataLakeLogger(
            server.url, "mlk_a_b", spill_dir=tmp_path, on_rejected=rejected.extend, **SETTINGS
        ) as logger:
            ids = logger.log_batch([factories.mood() for _ in range(20)])
            poison = logger.log(poison_entry())
            ids += logger.log_batch([factories.mood() for _ in range(20)])
            await logger.flush()
            health = await logger.health_check()
    assert sorted(api.delivered) == sorted(str(i) for i in ids)
    assert [r.event_id for r in rejected] == [poison] and health.counters.poisoned == 1
    assert health.state == "up"


def test_a_lone_poison_entry_does_not_stall_the_entries_logged_after_it(tmp_path: Path) -> None:
    """Alone in its batch there is nothing to compare it with: it is deferred behind newer
    entries (not rejected: the API might be failing for everyone); their acknowledgement
    proves the API takes entries, and then it is rejected."""
    api = BuggyApi()
    rejected: list[Rejection] = []
    with ThreadedServer(api.app) as server:
        logger = DataLakeLogger(
            server.url, "mlk_a_b", spill_dir=tmp_path, on_rejected=rejected.extend, **SETTINGS
        )
        with logger:
            poison = logger.log(poison_entry())
            logger.flush(timeout_s=20)
            first = logger.counters
            ids = [str(i) for i in logger.log_batch([factories.mood() for _ in range(10)])]
            logger.flush(timeout_s=20)
            assert wait_until(lambda: logger.counters.poisoned == 1)
            assert wait_until(lambda: logger.health_check().state == "up")
            counters = logger.counters
    assert first.deferred == 1 and first.rejected == 0  # unproven at first: kept
    assert sorted(api.delivered) == sorted(ids)
    assert [r.event_id for r in rejected] == [poison]
    assert counters.poisoned == 1 and counters.dropped == 0 and spilled_lines(tmp_path) == 0


def test_an_api_failing_500_for_everyone_makes_the_client_drop_nothing(tmp_path: Path) -> None:
    """The ingest API answers 500 to every batch while its database is down: the client
    splits, finds every part failing, and keeps everything until the API recovers."""
    api = BuggyApi()
    api.failing = 500
    rejected: list[Rejection] = []
    with ThreadedServer(api.app) as server:
        logger = DataLakeLogger(
            server.url, "mlk_a_b", spill_dir=tmp_path, on_rejected=rejected.extend, **SETTINGS
        )
        with logger:
            ids = [str(i) for i in logger.log_batch([factories.mood() for _ in range(40)])]
            logger.flush(timeout_s=20)
            # until the first entry was sent alone more often than makes a proven poison one
            assert wait_until(lambda: api.batches.count([ids[0]]) > SETTINGS["poison_after"])
            during = logger.health_check()
            api.failing = None  # the database is back
            assert wait_until(lambda: len(api.delivered) == 40)
            logger.flush(timeout_s=20)
            counters = logger.counters
    assert during.state == "down" and during.spilled + during.buffered == 40
    assert during.counters.split >= 4  # it did look for a poison entry
    assert during.counters.rejected == 0 and during.counters.poisoned == 0
    assert rejected == [] and counters.poisoned == 0 and counters.dropped == 0
    assert sorted(api.delivered) == sorted(ids)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_unavailable_replies_never_count_as_poison(tmp_path: Path, status: int) -> None:
    api = BuggyApi()
    api.failing = status
    with ThreadedServer(api.app) as server:
        logger = DataLakeLogger(server.url, "mlk_a_b", spill_dir=tmp_path, **SETTINGS)
        with logger:
            ids = logger.log_batch([poison_entry()] + [factories.mood() for _ in range(9)])
            logger.flush(timeout_s=20)
            assert wait_until(lambda: len(api.batches) >= 8)  # several probes after the spill
            during = logger.counters
            api.failing = None
            good = [str(i) for i in ids[1:]]
            assert wait_until(lambda: all(i in api.delivered for i in good))
    assert during.split == 0 and during.poisoned == 0 and during.rejected == 0
    assert during.spilled == 10
    # every request so far carried the whole batch: nothing was set aside on a 5xx
    assert all(len(batch) == 10 for batch in api.batches[:8])


def test_connection_errors_never_count_as_poison(tmp_path: Path) -> None:
    from tests.conftest import _free_port

    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens
    with DataLakeLogger(url, "mlk_a_b", spill_dir=tmp_path, **SETTINGS) as logger:
        logger.log_batch([poison_entry()] + [factories.mood() for _ in range(4)])
        logger.flush(timeout_s=20)
        assert wait_until(lambda: logger.counters.failed_requests >= 8)
        counters = logger.counters
    assert counters.split == 0 and counters.poisoned == 0 and counters.rejected == 0
    assert spilled_lines(tmp_path) == 5
