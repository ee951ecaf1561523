"""mindlake_client against the real ingest API (uvicorn subprocess, real Postgres outbox)."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mindlake_client import (
    AiLog,
    AuthLog,
    ChatLog,
    CommunityLog,
    DataLakeLogger,
    EntryTooLarge,
    JournalLog,
    LyfbotLog,
    MoodLog,
    PaymentLog,
    Rejection,
)

from tests import factories
from tests.client.conftest import Api, RecordingTransport, outbox_ids, wait_for_outbox

pytestmark = pytest.mark.integration


def make_logger(api: Api, key: str, spill: Path | None, **settings: Any) -> DataLakeLogger:
    settings.setdefault("flush_interval_s", 60.0)
    return DataLakeLogger(api.url, key, spill_dir=spill, **settings)


async def test_typed_and_plain_entries_land_in_the_outbox(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    rejected: list[Rejection] = []
    entries: list[Any] = [
        LyfbotLog(user_id="u_1", prompt="How are you?", response="Fine.", confidence_score=0.9),
        AiLog(user_id="u_1", prompt="Summarize", response="Done", prompt_tokens=12),
        JournalLog(user_id="u_2", text="A calm day.", tags=["calm"], extras={"source": "ios"}),
        MoodLog(user_id="u_3", score=7, factors=["sleep"]),
        ChatLog(user_id="u_4", conversation_id="c_1", message="hello", sender_role="peer"),
        CommunityLog(user_id="u_5", action="post", content="Hi all"),
        AuthLog(user_id="u_6", action="login", success=True),
        PaymentLog(user_id="u_7", action="charge", amount=Decimal("9.99"), currency="EUR"),
        factories.mood(score=4),  # a plain dict, without event_id
    ]
    with make_logger(ingest_api, api_key, tmp_path, on_rejected=rejected.extend) as logger:
        ids = [logger.log(entry) for entry in entries]
        logger.flush(timeout_s=10)
        counters = logger.counters
    assert rejected == []
    assert sorted(await outbox_ids(ids)) == sorted(ids)
    assert counters.accepted == len(entries) and counters.requests == 1
    assert all(uuid.UUID(event_id) for event_id in ids)  # set by the client


async def test_a_full_buffer_is_sent_without_waiting_for_the_interval(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    logger = make_logger(ingest_api, api_key, tmp_path, buffer_size=50)
    try:
        first = logger.log_batch([factories.mood() for _ in range(50)])
        assert len(await wait_for_outbox([str(i) for i in first], within_s=5)) == 50
        assert logger.counters.requests == 1
        rest = logger.log_batch([factories.mood() for _ in range(49)])  # one short of a batch
        await asyncio.sleep(0.5)
        assert logger.counters.requests == 1
        assert await outbox_ids([str(i) for i in rest]) == []
    finally:
        logger.shutdown()
    assert len(await outbox_ids([str(i) for i in rest])) == 49  # shutdown sent them


async def test_a_partial_buffer_waits_for_the_interval_then_goes_without_a_flush(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    # an interval far away: three entries stay buffered, no request is made for them
    with make_logger(ingest_api, api_key, tmp_path, flush_interval_s=3600.0) as logger:
        waiting = [logger.log(factories.journal()) for _ in range(3)]
        health = logger.health_check()
        assert health.buffered == 3 and health.counters.requests == 0
    assert len(await outbox_ids(waiting)) == 3  # shutdown sent them

    # a short interval: they go out on their own, together, with no flush() or shutdown
    with make_logger(ingest_api, api_key, tmp_path, flush_interval_s=0.3) as logger:
        ids = [logger.log(factories.journal()) for _ in range(3)]
        assert len(await wait_for_outbox(ids, within_s=5)) == 3
        assert logger.counters.requests == 1


async def test_bodies_are_gzipped_and_batches_fit_the_limits(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    logger = make_logger(ingest_api, api_key, tmp_path, buffer_size=1000, transport=transport)
    with logger:
        ids = logger.log_batch([factories.mood() for _ in range(2_300)])
        big = "x" * 20_000
        ids += logger.log_batch([factories.journal(text=f"{i} {big}") for i in range(60)])
        logger.flush(timeout_s=20)
    assert len(await outbox_ids([str(i) for i in ids])) == len(ids)
    assert transport.requests and all(r.status == 202 for r in transport.requests)
    for request in transport.requests:
        assert request.headers["content-encoding"] == "gzip"
        body = gzip.decompress(request.content)
        assert len(body) <= 500 * 1024
        assert len(json.loads(body)["entries"]) <= 1000
        assert len(request.content) < len(body)
    assert sum(
        len(json.loads(gzip.decompress(r.content))["entries"]) for r in transport.requests
    ) == (len(ids))


async def test_a_413_batch_is_split_in_halves(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    """A client configured past the server's 500 KB limit: the API answers 413, the client
    halves the batch until each part fits."""
    transport = RecordingTransport()
    logger = make_logger(
        ingest_api, api_key, tmp_path, max_batch_bytes=4 * 1024 * 1024, transport=transport
    )
    with logger:
        ids = logger.log_batch(
            [factories.journal(text=f"{i} {uuid.uuid4().hex * 600}") for i in range(80)]
        )
        logger.flush(timeout_s=20)
        counters = logger.counters
    assert len(await outbox_ids([str(i) for i in ids])) == 80
    assert transport.requests[0].status == 413
    assert counters.split >= 1 and counters.accepted == 80 and counters.rejected == 0


async def test_an_oversized_entry_is_refused_locally(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    with make_logger(ingest_api, api_key, tmp_path, transport=transport) as logger:
        with pytest.raises(EntryTooLarge, match="limit is 32,768 bytes"):
            logger.log(factories.journal(text="y" * 40_000))
        with pytest.raises(EntryTooLarge) as caught:
            logger.log_batch(
                [factories.mood(), factories.journal(text="y" * 40_000), factories.mood()]
            )
        assert caught.value.indexes == [1]
        logger.flush(timeout_s=10)
        counters = logger.counters
    assert counters.invalid == 2 and counters.accepted == 2
    sent = [json.loads(gzip.decompress(r.content)) for r in transport.requests]
    assert [len(body["entries"]) for body in sent] == [2]


async def test_rejected_entries_go_to_on_rejected_and_are_not_retried(
    ingest_api: Api, api_key: str, tmp_path: Path
) -> None:
    rejected: list[Rejection] = []
    with make_logger(ingest_api, api_key, tmp_path, on_rejected=rejected.extend) as logger:
        good = logger.log(factories.mood())
        bad_score = logger.log(factories.mood(score=42))
        bad_service = logger.log({"service": "fax-service", "user_id": "u_1"})
        logger.flush(timeout_s=10)
        assert logger.counters.requests == 1
        by_id = {r.event_id: r for r in rejected}
        assert set(by_id) == {bad_score, bad_service}
        assert by_id[bad_score].field == "score" and by_id[bad_score].status == 202
        assert "unknown service" in by_id[bad_service].reason
        assert by_id[bad_score].entry()["score"] == 42

        # a batch where nothing is valid: 422, every entry reported, still no retry
        rejected.clear()
        invalid = logger.log_batch([factories.mood(score=0), factories.mood(score=11)])
        logger.flush(timeout_s=10)
        counters = logger.counters
    assert {r.event_id for r in rejected} == set(invalid)
    assert {r.status for r in rejected} == {422}
    assert counters.requests == 2 and counters.rejected == 4 and counters.retries == 0
    assert await outbox_ids([good, bad_score, bad_service]) == [good]


async def test_a_refused_key_is_reported_not_retried(ingest_api: Api, tmp_path: Path) -> None:
    rejected: list[Rejection] = []
    key = "mlk_nosuchkey_secret"
    with make_logger(ingest_api, key, tmp_path / "spill", on_rejected=rejected.extend) as logger:
        logger.log_batch([factories.mood() for _ in range(3)])
        logger.flush(timeout_s=10)
        counters = logger.counters
        health = logger.health_check()
    assert len(rejected) == 3 and {r.status for r in rejected} == {401}
    assert counters.requests == 1 and counters.spilled == 0 and counters.retries == 0
    assert health.reachable and health.spilled == 0
