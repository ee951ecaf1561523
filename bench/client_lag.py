"""The asyncio client's cost to its caller's event loop: how late a 5 ms timer wakes up.

    .venv/bin/python -m bench.client_lag                    # 10,000 entries, 3 rounds: ~20 s
    .venv/bin/python -m bench.client_lag --entries 50000 --repeat 5

A producer logs `--entries` chat-bot entries (tests/factories.py), 100 per loop turn, while a
probe task sleeps 5 ms in a loop and records how late each wake-up is. Alternating rounds:
the producer alone (the baseline: what building the entries and the loop turns cost) and the
producer with an `AsyncDataLakeLogger` sending to `bench.baseline_app` (the ingest API's stack
answering 202 without work) started with uvicorn in a subprocess, flushed at the end. Prints
the lag p50/p99/max of each and the ratios to the baseline of the same run, and the client's
requests. No database is needed. Figures are printed, never asserted (the tests assert the
behaviour: tests/client/test_async_logger.py).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
TICK_S = 0.005


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_baseline(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--port", str(port)]
    command += ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the baseline app did not start")


async def measure_lag(stop: asyncio.Event) -> list[float]:
    lags: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(TICK_S)
        lags.append(time.perf_counter() - started - TICK_S)
    return lags


async def one_round(url: str | None, entries: list[dict[str, Any]]) -> tuple[list[float], int]:
    from mindlake_client import AsyncDataLakeLogger

    logger = None
    if url is not None:
        spill = tempfile.mkdtemp(prefix="mindlake-bench-spill-")
        logger = AsyncDataLakeLogger(url, "mlk_bench_x", spill_dir=spill, flush_interval_s=60.0)
        await logger.start()
    stop = asyncio.Event()
    probe = asyncio.create_task(measure_lag(stop))
    await asyncio.sleep(0.02)
    for start in range(0, len(entries), 100):
        if logger is not None:
            logger.log_batch(entries[start : start + 100])
        await asyncio.sleep(0)
    requests = 0
    if logger is not None:
        await logger.flush()
        requests = logger.counters.requests
    await asyncio.sleep(0.05)
    stop.set()
    lags = await probe
    if logger is not None:
        await logger.shutdown()
    return lags, requests


def quantiles(lags: list[float]) -> tuple[float, float, float]:
    ordered = sorted(lags)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)], ordered[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from tests import factories

    entries = [factories.lyfbot() for _ in range(args.entries)]  # made before measuring
    port = free_port()
    server = start_baseline(port)
    try:
        alone: list[float] = []
        logged: list[float] = []
        requests = 0
        for _ in range(args.repeat):
            alone += asyncio.run(one_round(None, entries))[0]
            lags, requests = asyncio.run(one_round(f"http://127.0.0.1:{port}", entries))
            logged += lags
    finally:
        server.terminate()
        server.wait(timeout=10)
    base, with_logger = quantiles(alone), quantiles(logged)
    print(f"{args.entries:,} entries, 100 per loop turn, {args.repeat} rounds each")
    print(f"{'':22}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, (p50, p99, worst) in (("producer alone", base), ("with the logger", with_logger)):
        print(f"{name:22}{p50 * 1000:9.2f}{p99 * 1000:9.2f}{worst * 1000:9.2f}")
    ratios = [w / b if b > 0 else float("inf") for w, b in zip(with_logger, base, strict=True)]
    print(f"{'ratio to the baseline':22}" + "".join(f"{r:8.1f}x" for r in ratios))
    print(f"client requests per round: {requests}")


if __name__ == "__main__":
    main()
