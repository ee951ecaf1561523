from __future__ import annotations

import gzip
from typing import Any

import orjson
from sqlalchemy import text

from libs.common.db import get_engine
from tests import factories


async def outbox_count() -> int:
    async with get_engine().connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM ingest.outbox")) or 0)


async def test_single_entry_is_accepted_and_durable(client: Any) -> None:
    entry = factories.lyfbot(event_id="evt-1")
    reply = await client.post("/v1/logs", json=entry)
    assert reply.status_code == 202, reply.text
    assert reply.json()["accepted"] == 1
    assert reply.json()["event_ids"] == ["evt-1"]
    async with get_engine().connect() as conn:
        row = (await conn.execute(text("SELECT service, payload FROM ingest.outbox"))).one()
    assert row[0] == "lyfbot-service"
    assert orjson.loads(row[1])["prompt"] == entry["prompt"]


async def test_every_service_type_is_accepted(client: Any) -> None:
    entries = [make() for make in factories.ALL]
    reply = await client.post("/v1/logs", json={"entries": entries})
    assert reply.status_code == 202, reply.text
    assert reply.json()["accepted"] == len(factories.ALL)


async def test_batch_with_one_bad_entry_accepts_the_others(client: Any) -> None:
    bad = factories.mood(score=42)
    entries = [factories.journal(), bad, factories.lyfbot()]
    reply = await client.post("/v1/logs", json={"entries": entries})
    assert reply.status_code == 202
    body = reply.json()
    assert (body["accepted"], body["rejected"], body["duplicate"]) == (2, 1, 0)
    assert body["errors"] == [
        {"index": 1, "field": "score", "reason": "Input should be less than or equal to 10"}
    ]
    assert body["event_ids"][1] is None
    assert await outbox_count() == 2


async def test_unknown_service_is_rejected_with_the_known_ones(client: Any) -> None:
    reply = await client.post(
        "/v1/logs", json={"entries": [factories.mood(), {**factories.mood(), "service": "spam"}]}
    )
    error = reply.json()["errors"][0]
    assert error["field"] == "service"
    assert "unknown service 'spam'" in error["reason"]
    assert "mood-service" in error["reason"]


async def test_all_rejected_is_problem_json_422(client: Any) -> None:
    reply = await client.post("/v1/logs", json={"entries": [{"service": "mood-service"}]})
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in reply.json()["errors"]}
    assert fields & {"user_id", "timestamp", "score"}


async def test_duplicate_event_ids_across_requests_are_counted_once(client: Any) -> None:
    entry = factories.mood(event_id="dup-1")
    first = await client.post("/v1/logs", json=entry)
    second = await client.post("/v1/logs", json={"entries": [entry, entry]})
    assert first.json()["accepted"] == 1
    assert (second.json()["accepted"], second.json()["duplicate"]) == (0, 2)
    assert await outbox_count() == 1


async def test_entries_without_event_id_get_a_stable_derived_one(client: Any) -> None:
    entry = factories.mood()
    first = (await client.post("/v1/logs", json=entry)).json()
    second = (await client.post("/v1/logs", json=entry)).json()
    assert first["event_ids"][0].startswith("h_")
    assert first["event_ids"] == second["event_ids"]
    assert second["duplicate"] == 1


async def test_unknown_fields_are_kept(client: Any) -> None:
    reply = await client.post("/v1/logs", json=factories.mood(device="ios", app_version="4.2"))
    assert reply.status_code == 202
    async with get_engine().connect() as conn:
        payload = orjson.loads(await conn.scalar(text("SELECT payload FROM ingest.outbox")))
    assert payload["device"] == "ios"


async def test_gzip_body(client: Any) -> None:
    body = gzip.compress(orjson.dumps({"entries": [factories.journal() for _ in range(20)]}))
    reply = await client.post(
        "/v1/logs",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["accepted"] == 20


async def test_gzip_bomb_is_refused(client: Any) -> None:
    body = gzip.compress(b'{"entries": [' + b" " * 5_000_000 + b"]}")
    reply = await client.post("/v1/logs", content=body, headers={"Content-Encoding": "gzip"})
    assert reply.status_code == 413


async def test_limits_give_413(client: Any) -> None:
    too_many = {"entries": [factories.mood() for _ in range(1001)]}
    assert (await client.post("/v1/logs", json=too_many)).status_code == 413
    big_single = factories.journal(text="x" * 31_000, notes="y" * 3_000)
    reply = await client.post("/v1/logs", json=big_single)
    assert reply.status_code == 413
    assert "32,768" in reply.json()["detail"]
    huge = {"entries": [factories.journal(text="z" * 30_000) for _ in range(20)]}
    assert (await client.post("/v1/logs", json=huge)).status_code == 413
    assert await outbox_count() == 0


async def test_oversized_entry_in_a_batch_is_rejected_alone(client: Any) -> None:
    entries = [factories.mood(), factories.journal(text="x" * 31_000, notes="y" * 3_000)]
    reply = await client.post("/v1/logs", json={"entries": entries})
    assert reply.status_code == 202
    assert reply.json()["errors"][0]["index"] == 1
    assert "limit" in reply.json()["errors"][0]["reason"]


async def test_invalid_json_is_a_clear_400(client: Any) -> None:
    reply = await client.post(
        "/v1/logs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == "body"


async def test_future_timestamp_rejected(client: Any) -> None:
    reply = await client.post("/v1/logs", json=factories.mood(timestamp="2999-01-01T00:00:00Z"))
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "timestamp"


async def test_missing_and_bad_keys_are_401(client: Any) -> None:
    entry = factories.mood()
    no_key = await client.post("/v1/logs", json=entry, headers={"Authorization": ""})
    assert no_key.status_code == 401
    bad = await client.post("/v1/logs", json=entry, headers={"Authorization": "Bearer mlk_x_y"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"


async def test_key_scoped_to_services(client: Any) -> None:
    from libs.common.auth import Scope, create_key
    from libs.common.db import session_maker

    async with session_maker()() as session:
        _, key = await create_key(
            session, name="mood-only", scopes=[Scope.INGEST_WRITE], services=["mood-service"]
        )
        await session.commit()
    reply = await client.post(
        "/v1/logs",
        json={"entries": [factories.mood(), factories.journal()]},
        headers={"Authorization": f"Bearer {key}"},
    )
    body = reply.json()
    assert body["accepted"] == 1
    assert body["errors"] == [
        {
            "index": 1,
            "field": "service",
            "reason": "this API key may not write for 'journal-service'",
        }
    ]


async def test_rejection_reasons_do_not_echo_input(client: Any) -> None:
    secret = "jane.doe@example.com"
    reply = await client.post("/v1/logs", json={"entries": [factories.mood(score=secret)]})
    assert secret not in reply.text


async def test_health_and_metrics(client: Any) -> None:
    await client.post("/v1/logs", json=factories.mood())
    health = await client.get("/health")
    assert health.json()["outbox_depth"] == 1
    metrics = (await client.get("/metrics")).text
    assert 'mindlake_ingest_entries_total{outcome="accepted",service="mood-service"}' in metrics
    assert "mindlake_ingest_outbox_depth 1.0" in metrics


async def test_openapi_documents_the_log_route(client: Any) -> None:
    schema = (await client.get("/openapi.json")).json()
    post = schema["paths"]["/v1/logs"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert "IngestReply" in schema["components"]["schemas"]
    assert "mood-service" in str(schema["components"]["schemas"]["LogEntry"])


async def test_accepted_entries_trigger_a_flush_task(client: Any, redis_url: str) -> None:
    import asyncio

    import redis

    from services.ingest.main import app

    broker = redis.Redis.from_url(redis_url)
    broker.delete("ingest")
    app.state.flush_trigger._last = 0.0  # due now
    await client.post("/v1/logs", json=factories.mood())
    for _ in range(50):
        if broker.llen("ingest"):
            break
        await asyncio.sleep(0.05)
    message = orjson.loads(broker.lpop("ingest"))
    assert message["headers"]["task"] == "ingest.flush"
    await client.post("/v1/logs", json=factories.mood())  # within the interval: no second task
    await asyncio.sleep(0.2)
    assert broker.llen("ingest") == 0


async def test_a_deeply_nested_entry_is_rejected_not_a_500(client: Any) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(400):
        node["x"] = {}
        node = node["x"]
    entries = [factories.mood(), {**factories.mood(), "extra": deep}]
    reply = await client.post("/v1/logs", json={"entries": entries})
    assert reply.status_code == 202, reply.text
    assert reply.json()["errors"] == [
        {"index": 1, "field": "entry", "reason": "the entry is nested too deeply"}
    ]
