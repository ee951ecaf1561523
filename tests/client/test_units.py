"""The client's parts on their own: spill folder, buffer policy, settings, encoding, retries."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from mindlake_client import (
    ClientConfig,
    ConfigError,
    DataLakeLogger,
    InvalidEntry,
    JournalLog,
    PaymentLog,
)
from mindlake_client.buffer import EntryBuffer
from mindlake_client.config import default_spill_dir
from mindlake_client.encoding import body_size, encode_entry, split_batches
from mindlake_client.retry import full_jitter, parse_retry_after
from mindlake_client.spill import SpillStore


def entry(i: int, size: int = 100) -> bytes:
    return json.dumps({"event_id": f"e{i}", "pad": "x" * size}).encode()


def test_spill_roundtrip_claims_oldest_first_and_deletes_when_finished(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, max_bytes=10_000_000)
    store.open()
    store.append([entry(1), entry(2)])
    store.append([entry(3)])
    assert store.pending == 3
    claim = store.claim()
    assert claim is not None and [json.loads(i)["event_id"] for i in claim.items] == [
        "e1",
        "e2",
        "e3",
    ]
    store.release(claim, acknowledged=2)  # e.g. the API went down after the first two
    claim = store.claim()
    assert claim is not None and len(claim.items) == 1 and claim.start == 2
    store.finish(claim)
    assert store.claim() is None and store.pending == 0
    assert list(tmp_path.iterdir()) == []


def test_two_processes_never_claim_the_same_segment(tmp_path: Path) -> None:
    one, two = SpillStore(tmp_path, 10_000_000), SpillStore(tmp_path, 10_000_000)
    one.open()
    two.open()
    one.append([entry(1)])
    one.close()
    two.append([entry(2)])
    two.close()
    first, second = one.claim(), two.claim()
    assert first is not None and second is not None and first.path != second.path
    assert one.claim() is None  # both segments are held
    one.finish(first)
    two.finish(second)


def test_spill_cap_drops_the_oldest_with_a_count_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SpillStore(tmp_path, max_bytes=8 * 1024)  # 1 KB segments
    store.open()
    with caplog.at_level(logging.WARNING, logger="mindlake_client"):
        for i in range(40):
            store.append([entry(i, size=400)])
    assert store.disk_bytes() <= 8 * 1024
    assert store.dropped > 0 and store.pending == 40 - store.dropped
    assert "spill folder full" in caplog.text
    kept = []
    while (claim := store.claim()) is not None:
        kept += [json.loads(i)["event_id"] for i in claim.items]
        store.finish(claim)
    assert kept == [f"e{i}" for i in range(store.dropped, 40)]  # the newest survive


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000001-1-abcd.jsonl").write_bytes(entry(1) + b"\n" + b'{"event_')
    store = SpillStore(tmp_path, 10_000_000)
    store.open()
    claim = store.claim()
    assert claim is not None and len(claim.items) == 1 and store.corrupt == 1


def test_memory_buffer_full_drops_the_oldest_with_a_count_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    buffer = EntryBuffer(max_entries=5, notify_every=2, notify=lambda: None)
    with caplog.at_level(logging.WARNING, logger="mindlake_client"):
        buffer.append([entry(i) for i in range(8)])
    assert buffer.dropped == 3 and len(buffer) == 5
    assert [json.loads(i)["event_id"] for i in buffer.take_all()] == [f"e{i}" for i in range(3, 8)]
    assert "buffer full" in caplog.text


def test_without_a_spill_folder_entries_wait_in_memory_while_down(tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "max_attempts": 1,
        "connect_timeout_s": 0.5,
        "spill_retry_max_s": 5.0,
    }
    logger = DataLakeLogger("http://127.0.0.1:9", "mlk_a_b", spill_dir=None, **settings)
    try:
        logger.log_batch([{"service": "mood-service", "user_id": "u", "score": 3}] * 3)
        logger.flush(timeout_s=5)
        health = logger.health_check()
        assert health.buffered == 3 and health.spilled == 0 and health.state == "down"
    finally:
        logger.shutdown(timeout_s=0.5)
    assert logger.counters.dropped == 3  # lost at shutdown, and said so in a warning


def test_batches_fit_both_limits() -> None:
    items = [entry(i, size=1000) for i in range(50)] + [entry(99, size=10)] * 30
    batches = split_batches(items, max_entries=20, max_body_bytes=8_000)
    assert [i for b in batches for i in b] == items
    assert all(len(b) <= 20 and body_size(b) <= 8_000 for b in batches)


def test_encoding_sets_ids_and_times_and_refuses_what_json_cannot_carry() -> None:
    event_id, raw = encode_entry(
        PaymentLog(user_id="u", action="charge", amount=Decimal("9.99"), currency="EUR"), 32_768
    )
    data = json.loads(raw)
    assert data["event_id"] == event_id and data["amount"] == "9.99"
    assert data["service"] == "payment-service" and "plan" not in data
    assert datetime.fromisoformat(data["timestamp"]) > datetime.now(UTC) - timedelta(minutes=1)
    kept, raw = encode_entry({"service": "mood-service", "event_id": "mine-1"}, 32_768)
    assert kept == "mine-1"
    with pytest.raises(InvalidEntry, match="JSON"):
        encode_entry({"service": "mood-service", "score": float("nan")}, 32_768)
    with pytest.raises(InvalidEntry):
        encode_entry(["not", "a", "dict"], 32_768)  # type: ignore[arg-type]
    extras = JournalLog(user_id="u", text="t", extras={"app_version": "1.2", "text": "ignored"})
    assert extras.to_dict()["text"] == "t" and extras.to_dict()["app_version"] == "1.2"


def test_from_env(tmp_path: Path) -> None:
    env = {
        "MINDLAKE_URL": "https://lake.example",
        "MINDLAKE_API_KEY": "mlk_abc_secret",
        "MINDLAKE_BUFFER_SIZE": "50",
        "MINDLAKE_FLUSH_INTERVAL_S": "5",
        "MINDLAKE_SPILL_DIR": str(tmp_path),
        "MINDLAKE_SPILL_MAX_MB": "2",
        "MINDLAKE_COMPRESS": "false",
    }
    config = ClientConfig.from_env(env)
    assert config.buffer_size == 50 and config.flush_interval_s == 5.0
    assert config.spill_path == tmp_path and config.spill_max_bytes == 2 * 1024 * 1024
    assert config.compress is False
    auto = ClientConfig.from_env({k: v for k, v in env.items() if k != "MINDLAKE_SPILL_DIR"})
    assert auto.spill_path == default_spill_dir("https://lake.example", "mlk_abc_secret")
    assert "secret" not in str(auto.spill_path)
    assert ClientConfig.from_env({**env, "MINDLAKE_SPILL_DIR": "off"}).spill_path is None
    with pytest.raises(ConfigError):
        ClientConfig.from_env({"MINDLAKE_URL": "https://lake.example"})
    with pytest.raises(ConfigError, match="MINDLAKE_BUFFER_SIZE"):
        ClientConfig.from_env({**env, "MINDLAKE_BUFFER_SIZE": "lots"})
    assert ClientConfig.from_env({**env, "MINDLAKE_POISON_AFTER": "5"}).poison_after == 5
    with pytest.raises(ConfigError, match="poison_after"):
        ClientConfig.from_env({**env, "MINDLAKE_POISON_AFTER": "1"})


def test_retry_after_and_backoff() -> None:
    assert parse_retry_after("3", cap_s=600) == 3.0
    assert parse_retry_after("9999", cap_s=600) == 600.0
    assert parse_retry_after(None, cap_s=600) is None
    assert parse_retry_after("soon", cap_s=600) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (parse_retry_after(later, cap_s=600) or 0) <= 30
    waits = [full_jitter(attempt, 0.5, 30.0) for attempt in range(1, 12) for _ in range(20)]
    assert all(0 <= w <= 30.0 for w in waits) and max(waits) > 10


def poison_guard(rejected: list[Any]) -> Any:
    from mindlake_client.poison import PoisonGuard
    from mindlake_client.status import Counters

    config = ClientConfig(url="http://x", api_key="k", backoff_base_s=0.0, backoff_max_s=0.0)
    return PoisonGuard(config, Counters(), rejected.extend)


async def no_pause(_: float) -> bool:
    return True


async def test_isolation_rejects_only_an_entry_failing_while_others_are_accepted() -> None:
    from mindlake_client.delivery import Result

    rejected: list[Any] = []
    guard = poison_guard(rejected)
    batch = [entry(i) for i in range(8)]
    sent: list[list[bytes]] = []

    async def post(part: list[bytes]) -> Result:  # the API fails on any part holding e5
        sent.append(part)
        result = Result(part, status=500) if batch[5] in part else Result([])
        guard.observe(part, result)
        return result

    isolated = await guard.isolate(batch, post, no_pause)
    assert isolated.remaining == [] and isolated.deferred == []
    assert [r.raw for r in rejected] == [batch[5]] and rejected[0].status == 500
    assert guard.counters.poisoned == 1 and guard.counters.rejected == 1
    assert sent.count([batch[5]]) == 3  # alone: the poison_after limit, no more
    assert all(part in sent for part in ([batch[0], batch[1], batch[2], batch[3]], [batch[4]]))


async def test_isolation_of_a_batch_failing_everywhere_rejects_nothing_and_stays_cheap() -> None:
    from mindlake_client.delivery import Result

    rejected: list[Any] = []
    guard = poison_guard(rejected)
    batch = [entry(i) for i in range(1000)]
    sent: list[list[bytes]] = []

    async def post(part: list[bytes]) -> Result:  # a database outage: 500 for everything
        sent.append(part)
        result = Result(part, status=500)
        guard.observe(part, result)
        return result

    for _ in range(5):  # isolated again and again while the outage lasts
        isolated = await guard.isolate(batch, post, no_pause)
        assert isolated.remaining == batch and isolated.deferred == []
    assert rejected == [] and guard.counters.poisoned == 0
    assert len(sent) <= 5 * 3 * 11  # three lone entries a round, ~log2(1000) parts each

    # 503 (or no answer) stops at once: never split, never poison
    sent.clear()

    async def unavailable(part: list[bytes]) -> Result:
        sent.append(part)
        return Result(part, status=503)

    isolated = await guard.isolate(batch, unavailable, no_pause)
    assert isolated.remaining == batch and len(sent) == 1 and rejected == []
