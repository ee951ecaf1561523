"""The asyncio logger: it never makes the caller's event loop wait on the network or the disk."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from mindlake_client import AsyncDataLakeLogger, LoggerClosed, MoodLog, Rejection, delivery
from mindlake_client.spill import SpillStore
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests import factories
from tests.client.conftest import Api, ThreadedServer, outbox_ids, wait_for_outbox

pytestmark = pytest.mark.integration


class HoldingApi:
    """POST /v1/logs that holds the first request until `release` is set, then answers 202."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.answered = 0
        self.delivered: list[str] = []
        self.app = Starlette(routes=[Route("/v1/logs", self.post, methods=["POST"])])

    async def post(self, request: Request) -> Response:
        entries = json.loads(gzip.decompress(await request.body()))["entries"]
        self.arrived.set()
        await asyncio.to_thread(self.release.wait, 20)
        ids = [e["event_id"] for e in entries]
        self.delivered += ids
        self.answered += 1
        reply = {"accepted": len(ids), "duplicate": 0, "rejected": 0, "errors": []}
        return JSONResponse({**reply, "event_ids": ids}, status_code=202)


async def produce(logger: AsyncDataLakeLogger, entries: list[dict[str, Any]]) -> list[str]:
    """A service handling requests: 100 entries per loop turn."""
    ids: list[str] = []
    for start in range(0, len(entries), 100):
        ids += [str(i) for i in logger.log_batch(entries[start : start + 100])]
        await asyncio.sleep(0)
    return ids


async def test_the_loop_runs_on_while_the_api_holds_a_request(tmp_path: Path) -> None:
    """The send is awaited on the loop, never waited for: while the API holds a request the
    caller logs thousands of entries and other tasks run; a blocking send would deadlock here
    (the server answers only after the producer is done). Loop-lag figures: bench/client_lag.py."""
    api = HoldingApi()
    with ThreadedServer(api.app) as server:
        async with AsyncDataLakeLogger(
            server.url, "mlk_a_b", spill_dir=tmp_path, flush_interval_s=60.0, max_buffered=20_000
        ) as logger:
            first = [str(i) for i in logger.log_batch([factories.lyfbot() for _ in range(100)])]
            assert await asyncio.to_thread(api.arrived.wait, 10)  # a full batch went out
            ticks = 0

            async def other_work() -> None:
                nonlocal ticks
                for _ in range(50):
                    await asyncio.sleep(0)
                    ticks += 1

            other = asyncio.create_task(other_work())
            ids = await produce(logger, [factories.lyfbot() for _ in range(5_000)])
            await other
            held = api.answered  # read before the release
            api.release.set()
            await logger.flush()
            counters = logger.counters
    assert held == 0 and ticks == 50 and len(ids) == 5_000
    assert sorted(api.delivered) == sorted(first + ids)
    assert counters.accepted == 5_100 and counters.dropped == 0


async def test_logging_10k_entries_gzips_and_touches_the_disk_off_the_loop(
    ingest_api: Api, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large bodies are gzipped, and the spill folder read, in worker threads: the real
    functions run, the test only notes on which thread."""
    threads: dict[str, list[int]] = {"gzip": [], "spill": []}
    real_body, real_claim = delivery.request_body, SpillStore.claim

    def request_body(entries: list[bytes], compress: bool) -> bytes:
        if sum(len(e) for e in entries) >= delivery.INLINE_GZIP_BYTES:
            threads["gzip"].append(threading.get_ident())
        return real_body(entries, compress)

    def claim(self: SpillStore) -> Any:
        threads["spill"].append(threading.get_ident())
        return real_claim(self)

    monkeypatch.setattr(delivery, "request_body", request_body)
    monkeypatch.setattr(SpillStore, "claim", claim)
    loop_thread = threading.get_ident()
    async with AsyncDataLakeLogger(
        ingest_api.url, api_key, spill_dir=tmp_path, flush_interval_s=60.0
    ) as logger:
        ids = await produce(logger, [factories.lyfbot() for _ in range(10_000)])
        await logger.flush()
        counters = logger.counters
    found = await wait_for_outbox(ids, within_s=10)
    assert len(found) == 10_000 and counters.accepted == 10_000
    assert threads["gzip"] and threads["spill"]  # both happened...
    assert loop_thread not in threads["gzip"] + threads["spill"]  # ...never on the loop


async def test_async_logger_basics(ingest_api: Api, api_key: str, tmp_path: Path) -> None:
    rejected: list[Rejection] = []
    logger = AsyncDataLakeLogger(
        ingest_api.url, api_key, spill_dir=tmp_path, on_rejected=rejected.extend
    )
    good = logger.log(MoodLog(user_id="u_9", score=5, note="ok"))
    ids = logger.log_batch([factories.journal(), factories.mood(score=99)])
    await logger.flush()
    health = await logger.health_check()
    await logger.shutdown()
    with pytest.raises(LoggerClosed):
        logger.log(factories.mood())
    assert health.reachable and health.api == "ok" and health.buffered == 0
    assert health.counters.accepted == 2 and health.counters.rejected == 1
    assert [r.event_id for r in rejected] == [ids[1]]
    assert sorted(await outbox_ids([good, str(ids[0])])) == sorted([good, str(ids[0])])
    assert health.as_dict()["counters"]["logged"] == 3


def test_log_outside_a_loop_buffers_until_started(tmp_path: Path) -> None:
    logger = AsyncDataLakeLogger("http://127.0.0.1:9", "mlk_a_b", spill_dir=tmp_path)
    logger.log(factories.mood())
    assert len(logger.buffer) == 1 and logger.counters.logged == 1
