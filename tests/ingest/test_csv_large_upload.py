"""CSV upload of a large file: it streams, with this process's memory bounded well below
the file's size."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from libs.common.lake import Lake
from tests.ingest.csv_support import BAD_CSV, HEADER, csv_client, tenant, upload

__all__ = ["csv_client"]  # fixture, shared by the CSV upload tests


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples this process's resident memory while a block runs."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


def write_large_csv(path: Path, rows: int) -> None:
    """An export as a tenant would send it: in time order, one interaction a second."""
    pad = "x" * 2000  # an ignored column (a wide export): a 600 MB file; never parsed to memory
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with path.open("w") as f:
        f.write(HEADER)
        for i in range(rows):
            kind = ("view", "click", "purchase", "like", "dislike")[i % 5]
            bad = i % 1000 == 999  # one row in a thousand is rejected
            at = (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            f.write(
                f"user_{i % 5000},item_{i % 777},{'nope' if bad else kind},{at},{i % 5 + 1},{pad}\n"
            )


async def stream(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            yield block


@pytest.mark.slow
async def test_large_csv_streams_with_bounded_memory(
    csv_client: Any, lake_settings: Any, tmp_path: Path
) -> None:
    if Lake(lake_settings).is_s3:
        pytest.skip("the large file runs on the local root only (the S3 path is the same code)")
    rows = 300_000
    path = tmp_path / "large.csv"
    write_large_csv(path, rows)
    size = path.stat().st_size
    t = tenant()
    await upload(csv_client, BAD_CSV.encode(), t)  # warm up: imports, first table commit

    started = time.monotonic()
    with PeakRss() as rss:
        reply = await upload(csv_client, stream(path), t)
    elapsed = time.monotonic() - started
    assert reply.status_code == 200, reply.text
    report = reply.json()
    print(
        f"\n{rows} rows, {size / 1e6:.0f} MB in {elapsed:.1f} s;"
        f" peak RSS growth {rss.growth / 1e6:.0f} MB"
    )
    assert report["rows_total"] == rows
    assert report["rows_rejected"] == rows // 1000
    rejected = next(r for r in report["rules"] if r["rule"] == "allowed_values")
    assert rejected["sample_rows"] == list(range(1000, 10_001, 1000))
    assert report["rows_landed"] + report["rows_already_landed"] == rows - rows // 1000
    assert rss.growth < size / 2, (rss.growth, size)
    table = Lake(lake_settings).delta_table(f"raw/tenants/{t}/interactions")
    assert table is not None
    assert table.count() == report["rows_landed"] + 3  # plus the warm-up's rows
