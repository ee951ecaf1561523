"""The dead-letter store: recording rejections, scrubbing, listing, replay, discard, metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
import orjson
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field, TypeAdapter
from sqlalchemy import text

from libs.common.contracts import TaskName
from libs.common.db import get_engine
from libs.common.schedules import load_beat_schedule
from services.ingest.config import get_ingest_settings
from services.ingest.deadletters import service as deadletter
from services.ingest.deadletters import tasks
from services.ingest.deadletters.scrub import scrub_pending
from services.ingest.logs import schemas
from services.ingest.logs import service as ingest_service
from tests import factories

EMAIL = "jane.doe.dl@example.com"


@pytest.fixture
async def dl_client(client: Any, database: str) -> AsyncIterator[Any]:
    """The ingest client on an empty dead-letter table, with no scrub task sent to Redis."""
    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE ingest.dead_letters"))
    deadletter.scrub_trigger.enabled = False
    yield client
    deadletter.scrub_trigger.enabled = True


@pytest.fixture
async def admin(database: str) -> dict[str, str]:
    from libs.common.auth import Scope, create_key
    from libs.common.db import session_maker

    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"admin-{uuid.uuid4().hex[:6]}", scopes=[Scope.ADMIN], services=[]
        )
        await session.commit()
    return {"Authorization": f"Bearer {key}"}


async def stored() -> list[dict[str, Any]]:
    async with get_engine().connect() as conn:
        result = await conn.execute(
            text(
                "SELECT id, source, service, reason, field, error_kind, payload::text AS payload,"
                " scrubbed_at, status, key_id FROM ingest.dead_letters ORDER BY id"
            )
        )
        return [dict(r._mapping) for r in result]


def sample(metrics_text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_rejections_are_dead_lettered_with_reason_field_source(dl_client: Any) -> None:
    entries = [
        factories.journal(),
        factories.mood(score=11),
        {**factories.mood(), "service": "sleep-service"},
        "not an entry",
    ]
    reply = await dl_client.post("/v1/logs", json={"entries": entries})
    assert reply.status_code == 202
    assert reply.json()["rejected"] == 3
    rows = await stored()
    assert [(r["source"], r["field"], r["error_kind"], r["service"]) for r in rows] == [
        ("logs", "score", "less_than_equal", "mood-service"),
        ("logs", "service", "unknown_service", None),  # unknown services are never stored
        ("logs", "entry", "not_an_object", None),
    ]
    assert rows[0]["reason"] == "Input should be less than or equal to 10"
    assert orjson.loads(rows[0]["payload"])["score"] == 11
    assert orjson.loads(rows[2]["payload"]) == "not an entry"
    assert all(r["status"] == "open" and r["scrubbed_at"] is None for r in rows)
    assert all(r["key_id"] for r in rows)


async def test_oversized_and_unscoped_entries_are_dead_lettered(dl_client: Any) -> None:
    from libs.common.auth import Scope, create_key
    from libs.common.db import session_maker

    async with session_maker()() as session:
        row, key = await create_key(
            session, name="mood-only", scopes=[Scope.INGEST_WRITE], services=["mood-service"]
        )
        await session.commit()
    huge = factories.mood(note="x" * 40_000)
    entries = [factories.mood(), huge, factories.journal()]
    reply = await dl_client.post(
        "/v1/logs", json={"entries": entries}, headers={"Authorization": f"Bearer {key}"}
    )
    assert reply.json()["rejected"] == 2
    rows = await stored()
    assert [(r["error_kind"], r["field"], r["key_id"]) for r in rows] == [
        ("entry_too_large", "entry", row.key_id),
        ("service_not_allowed", "service", row.key_id),
    ]
    assert len(orjson.loads(rows[0]["payload"])["note"]) == 40_000  # kept whole, for a replay


async def test_record_keeps_what_other_paths_send(dl_client: Any) -> None:
    from decimal import Decimal

    await deadletter.record(
        [
            deadletter.DeadLetterIn(
                source="segment",
                payload={"type": "track", "amount": Decimal("9.99")},
                reason="unsupported type",
                field="type",
                error_kind="literal_error",
                key_id="k1",
            )
        ]
    )
    await deadletter.record([])  # nothing to do
    (row,) = await stored()
    assert (row["source"], row["error_kind"], row["service"]) == ("segment", "literal_error", None)
    assert orjson.loads(row["payload"]) == {"type": "track", "amount": "9.99"}


async def test_all_rejected_request_is_dead_lettered_too(dl_client: Any) -> None:
    reply = await dl_client.post("/v1/logs", json=factories.mood(score=0))
    assert reply.status_code == 422
    assert [r["error_kind"] for r in await stored()] == ["greater_than_equal"]


async def test_happy_path_records_nothing(dl_client: Any) -> None:
    reply = await dl_client.post("/v1/logs", json={"entries": [factories.mood()]})
    assert reply.status_code == 202
    assert await stored() == []


async def test_scrub_task_removes_pii_and_listing_withholds_until_then(
    dl_client: Any, admin: dict[str, str]
) -> None:
    bad_mood = factories.mood(score=11, note=f"write to me at {EMAIL} please")
    bad_auth = factories.auth(action="teleport", email=EMAIL)
    reply = await dl_client.post("/v1/logs", json={"entries": [bad_mood, bad_auth]})
    assert reply.status_code == 422

    listed = (await dl_client.get("/v1/dead-letters", headers=admin)).json()["items"]
    assert [i["payload_withheld"] for i in listed] == [True, True]
    assert all(i["payload"] is None for i in listed)

    assert await anyio.to_thread.run_sync(tasks.scrub_dead_letters) == 2  # the Celery task's body
    rows = await stored()
    assert all(r["scrubbed_at"] is not None for r in rows)
    assert not any(EMAIL in r["payload"] or EMAIL in r["reason"] for r in rows)
    mood_payload = orjson.loads(rows[0]["payload"])
    assert mood_payload["score"] == 11 and mood_payload["user_id"] == bad_mood["user_id"]
    assert orjson.loads(rows[1]["payload"])["email"] != EMAIL  # a keyed hash now

    item = (await dl_client.get(f"/v1/dead-letters/{rows[0]['id']}", headers=admin)).json()
    assert item["payload_withheld"] is False
    assert item["payload"]["score"] == 11
    assert "write to me at" in item["payload"]["note"]
    assert await scrub_pending(get_ingest_settings()) == 0  # idempotent


async def test_listing_filters_and_pagination(dl_client: Any, admin: dict[str, str]) -> None:
    for score in (0, 11, 12, 13, 14):
        await dl_client.post("/v1/logs", json={"entries": [factories.mood(score=score)]})
    await dl_client.post("/v1/logs", json={"entries": [{**factories.mood(), "service": "x-svc"}]})
    all_ids = [r["id"] for r in await stored()]

    page = (await dl_client.get("/v1/dead-letters?limit=4", headers=admin)).json()
    assert [i["id"] for i in page["items"]] == all_ids[::-1][:4]  # newest first
    page2 = (
        await dl_client.get(f"/v1/dead-letters?limit=4&cursor={page['next_cursor']}", headers=admin)
    ).json()
    assert [i["id"] for i in page2["items"]] == all_ids[::-1][4:]
    assert page2["next_cursor"] is None

    by_kind = (await dl_client.get("/v1/dead-letters?reason=less_than_equal", headers=admin)).json()
    assert len(by_kind["items"]) == 4
    by_text = (await dl_client.get("/v1/dead-letters?reason=unknown service", headers=admin)).json()
    assert [i["error_kind"] for i in by_text["items"]] == ["unknown_service"]
    by_service = (
        await dl_client.get("/v1/dead-letters?service=mood-service&source=logs", headers=admin)
    ).json()
    assert len(by_service["items"]) == 5
    assert (await dl_client.get("/v1/dead-letters?source=csv", headers=admin)).json()["items"] == []
    first = (await dl_client.get(f"/v1/dead-letters/{all_ids[0]}", headers=admin)).json()
    since = first["received_at"]
    later = (await dl_client.get("/v1/dead-letters", params={"until": since}, headers=admin)).json()
    assert later["items"] == []
    assert (await dl_client.get("/v1/dead-letters?status=open", headers=admin)).json()["items"]
    assert (await dl_client.get("/v1/dead-letters/999999999", headers=admin)).status_code == 404


@pytest.fixture
def sleep_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema fix: the entry types gain `sleep-service` (as a deploy would)."""

    class SleepLog(schemas.EntryBase):
        service: Literal["sleep-service"]
        hours: float

    members = (*schemas.ENTRY_TYPES.values(), SleepLog)
    union: Any = members[0]
    for member in members[1:]:
        union = union | member
    from typing import Annotated

    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[union, Field(discriminator="service")])
    monkeypatch.setattr(ingest_service, "ENTRY_ADAPTER", adapter)
    monkeypatch.setattr(schemas, "ENTRY_TYPES", {**schemas.ENTRY_TYPES, "sleep-service": SleepLog})


async def test_replay_after_schema_fix_lands_exactly_once(
    dl_client: Any, admin: dict[str, str], sleep_service: None
) -> None:
    sleep = {**factories.mood(), "service": "sleep-service", "hours": 7.5}
    del sleep["score"]
    still_bad = factories.mood(score=11)
    with pytest.MonkeyPatch.context() as m:  # before the fix: the service is unknown
        m.setattr(ingest_service, "ENTRY_ADAPTER", schemas.ENTRY_ADAPTER)
        reply = await dl_client.post("/v1/logs", json={"entries": [sleep, still_bad]})
    assert reply.status_code == 422
    sleep_id, bad_id = [r["id"] for r in await stored()]

    async def outbox() -> list[str]:
        async with get_engine().connect() as conn:
            return list(
                await conn.scalars(text("SELECT service FROM ingest.outbox ORDER BY service"))
            )

    reply = await dl_client.post(
        "/v1/dead-letters/replay", json={"filter": {"source": "logs"}}, headers=admin
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["replayed"], body["failed"]) == (1, 1)
    by_id = {r["id"]: r for r in body["results"]}
    assert by_id[sleep_id]["outcome"] == "replayed"
    event_id = by_id[sleep_id]["event_id"]
    assert by_id[bad_id]["outcome"] == "rejected"
    assert by_id[bad_id]["errors"] == [
        {"field": "score", "reason": "Input should be less than or equal to 10"}
    ]
    assert await outbox() == ["sleep-service"]

    again = await dl_client.post(
        "/v1/dead-letters/replay", json={"ids": [sleep_id, bad_id, 999999999]}, headers=admin
    )
    results = {r["id"]: r for r in again.json()["results"]}
    assert results[sleep_id] == {
        "id": sleep_id,
        "outcome": "already_replayed",
        "event_id": event_id,
        "errors": [],
    }
    assert results[bad_id]["outcome"] == "rejected"
    assert results[999999999]["outcome"] == "not_found"
    assert await outbox() == ["sleep-service"]  # not twice

    item = (await dl_client.get(f"/v1/dead-letters/{sleep_id}", headers=admin)).json()
    assert (item["status"], item["replay_event_id"]) == ("replayed", event_id)
    assert item["replayed_at"] is not None
    async with get_engine().connect() as conn:
        payload = await conn.scalar(
            text("SELECT payload FROM ingest.outbox WHERE event_id = :e"), {"e": event_id}
        )
    assert orjson.loads(payload)["hours"] == 7.5


async def test_discard(dl_client: Any, admin: dict[str, str]) -> None:
    await dl_client.post("/v1/logs", json=factories.mood(score=11))
    (row,) = await stored()
    reply = await dl_client.post(f"/v1/dead-letters/{row['id']}/discard", headers=admin)
    assert reply.status_code == 200
    assert reply.json()["status"] == "discarded"
    replay = await dl_client.post(
        "/v1/dead-letters/replay", json={"ids": [row["id"]]}, headers=admin
    )
    assert replay.json()["results"][0]["outcome"] == "discarded"
    open_only = (await dl_client.get("/v1/dead-letters?status=open", headers=admin)).json()
    assert open_only["items"] == []
    assert (
        await dl_client.post("/v1/dead-letters/999999999/discard", headers=admin)
    ).status_code == 404


async def test_replay_request_needs_ids_or_filter(dl_client: Any, admin: dict[str, str]) -> None:
    reply = await dl_client.post("/v1/dead-letters/replay", json={}, headers=admin)
    assert reply.status_code == 422


async def test_metrics_count_dead_letters(dl_client: Any, admin: dict[str, str]) -> None:
    before = (await dl_client.get("/metrics")).text
    await dl_client.post(
        "/v1/logs",
        json={"entries": [factories.mood(score=11), factories.mood(score=12), factories.mood()]},
    )
    await deadletter.record(
        [deadletter.DeadLetterIn("csv", "a,b,c", "3 columns, expected 5", None, "parse_error")]
    )
    after = (await dl_client.get("/metrics")).text
    name = "mindlake_ingest_dead_letters_total"
    delta = sample(after, name, source="logs", reason_kind="less_than_equal") - sample(
        before, name, source="logs", reason_kind="less_than_equal"
    )
    assert delta == 2
    csv_delta = sample(after, name, source="csv", reason_kind="parse_error") - sample(
        before, name, source="csv", reason_kind="parse_error"
    )
    assert csv_delta == 1
    rejected = "mindlake_ingest_entries_total"
    assert sample(after, rejected, outcome="rejected", service="mood-service") >= 2

    (row, *_) = await stored()
    await dl_client.post(f"/v1/dead-letters/{row['id']}/discard", headers=admin)
    gauge = sample((await dl_client.get("/metrics")).text, "mindlake_ingest_dead_letters_open")
    assert gauge == 2


async def test_labels_stay_bounded() -> None:
    assert deadletter.source_label("my-free-text") == "other"
    assert deadletter.kind_label("Jane's email was wrong") == "other"
    assert deadletter.kind_label("missing") == "missing"


async def test_non_admin_key_is_forbidden(dl_client: Any) -> None:
    assert (await dl_client.get("/v1/dead-letters")).status_code == 403
    assert (await dl_client.get("/v1/dead-letters/1")).status_code == 403
    replay = await dl_client.post("/v1/dead-letters/replay", json={"ids": [1]})
    assert replay.status_code == 403
    assert (await dl_client.post("/v1/dead-letters/1/discard")).status_code == 403
    no_key = await dl_client.get("/v1/dead-letters", headers={"Authorization": ""})
    assert no_key.status_code == 401


async def test_recording_triggers_the_scrub_task_and_beat_schedules_it(
    dl_client: Any, redis_url: str
) -> None:
    queue = redis.Redis.from_url(redis_url)

    def scrub_messages() -> int:
        return sum(
            TaskName.INGEST_SCRUB_DEAD_LETTERS.encode() in m for m in queue.lrange("ingest", 0, -1)
        )

    before = scrub_messages()
    deadletter.scrub_trigger.enabled = True
    deadletter.scrub_trigger._last = 0.0
    await dl_client.post("/v1/logs", json=factories.mood(score=11))
    await asyncio.gather(*deadletter.scrub_trigger._tasks)
    assert scrub_messages() == before + 1
    schedule = load_beat_schedule()
    assert schedule["ingest-scrub-dead-letters"]["task"] == TaskName.INGEST_SCRUB_DEAD_LETTERS
