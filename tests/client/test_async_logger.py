"""The asyncio logger against the real ingest API: it never stalls the caller's event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from mindlake_client import AsyncDataLakeLogger, LoggerClosed, MoodLog, Rejection

from tests import factories
from tests.client.conftest import Api, outbox_ids, wait_for_outbox

pytestmark = pytest.mark.integration


async def measure_lag(stop: asyncio.Event, tick_s: float = 0.005) -> list[float]:
    """How late each short sleep wakes up: the time the loop was busy elsewhere."""
    lags: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(tick_s)
        lags.append(time.perf_counter() - started - tick_s)
    return lags


async def produce(logger: AsyncDataLakeLogger | None, entries: list[dict[str, Any]]) -> list[str]:
    """A service handling requests: 100 entries per loop turn."""
    ids: list[str] = []
    for start in range(0, len(entries), 100):
        for entry in entries[start : start + 100]:
            if logger is not None:
                ids.append(logger.log(entry))
        await asyncio.sleep(0)
    return ids


async def run_with_lag_probe(
    logger: AsyncDataLakeLogger | None, count: int
) -> tuple[list[str], list[float]]:
    entries = [factories.lyfbot() for _ in range(count)]  # made before measuring
    stop = asyncio.Event()
    probe = asyncio.create_task(measure_lag(stop))
    await asyncio.sleep(0.02)
    ids = await produce(logger, entries)
    if logger is not None:
        await logger.flush()
    await asyncio.sleep(0.05)
    stop.set()
    return ids, await probe


async def test_logging_10k_entries_does_not_block_the_loop(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    _, baseline = await run_with_lag_probe(None, 10_000)
    async with AsyncDataLakeLogger(
        ingest_api.url, api_key, spill_dir=tmp_path, flush_interval_s=60.0
    ) as logger:
        started = time.perf_counter()
        ids, lags = await run_with_lag_probe(logger, 10_000)
        elapsed = time.perf_counter() - started
        counters = logger.counters
    found = await wait_for_outbox(ids, within_s=10)
    lags.sort()
    p99, worst = lags[int(len(lags) * 0.99)], lags[-1]
    print(
        f"\nasync logger, 10k entries delivered in {elapsed:.2f} s: loop lag p99 "
        f"{p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms (same producer without the logger: "
        f"max {max(baseline) * 1000:.1f} ms); {counters.requests} requests"
    )
    assert len(found) == 10_000 and counters.accepted == 10_000
    assert worst < 0.1  # a blocking send or gzip of a batch on the loop would show here
    assert p99 < 0.05


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
