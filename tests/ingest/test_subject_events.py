"""The ingest service's stores for erasure and portability, raw events and the Postgres
stores: the registry claims every table; data for three users through POST /v1/logs, Segment
and the flush, then collect and erase for one of them, directly and through run_step, on a
local folder and on S3 over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from libs.common.contracts import SubjectStore
from libs.common.crypto import DataKeys, new_key, seal
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from libs.common.subject_rights import Collected, Phase, open_request, read_part, run_step
from libs.common.subjects import subject_key
from services.ingest.config import IngestSettings
from services.ingest.flush.raw_table import RawEventsTable
from services.ingest.flush.service import flush_outbox
from services.ingest.subjects.stores import HANDLERS, NO_SUBJECT_DATA
from tests import factories
from tests.ingest.lake_scan import find
from tests.ingest.subject_support import (
    POSTGRES_STORES,
    collect,
    context,
    count,
    data_key,
    encrypted_row,
    erase,
    people,
    postgres_rows,
    raw_rows,
)


# --- the registry ----------------------------------------------------------------------------
async def test_every_ingest_table_is_claimed_or_free_of_user_data(database: str) -> None:
    async with get_engine().connect() as conn:
        tables = {
            f"ingest.{name}"
            for name in await conn.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ingest'"
                )
            )
        }
    claimed = [t for handler in HANDLERS.values() for t in handler.tables]
    assert len(claimed) == len(set(claimed))
    assert not set(claimed) & set(NO_SUBJECT_DATA)
    assert tables - {"ingest.alembic_version"} == set(claimed) | set(NO_SUBJECT_DATA)
    assert set(HANDLERS) == {s for s in SubjectStore if s.startswith("ingest.")}


# --- raw events, outbox, identifiers, dead letters --------------------------------------------
async def test_events_outbox_identifiers_and_dead_letters(
    client: Any, lake_settings: IngestSettings
) -> None:
    who = people()
    entries, bad = [], []
    for p in who.values():
        entries += [
            factories.journal(p["id"], text=p["sentence"], device_note=f"extra {p['token']}x"),
            factories.auth(p["id"], email=p["email"], phone=p["phone"]),
            factories.mood(p["id"], score=4, note=f"slept badly {p['token']}m"),
        ]
        bad.append(factories.mood(p["id"], score=11, note=f"too high {p['token']}d"))
    reply = await client.post("/v1/logs", json={"entries": entries + bad})
    assert reply.status_code == 202, reply.text
    assert reply.json()["rejected"] == len(bad)
    segment = [  # a track call without `event` is rejected: a dead letter per message
        {"type": "track", "userId": who["alice"]["id"], "properties": {"q": "seg"}},
        {"type": "track", "anonymousId": "device-1", "properties": {"q": "anon"}},
    ]
    reply = await client.post("/v1/batch", json={"batch": segment})
    assert reply.status_code == 400, reply.text  # none accepted: both kept as dead letters

    lake = Lake(lake_settings)
    await flush_outbox(lake_settings, lake)
    alice = who["alice"]
    key = await data_key(lake_settings, alice["id"])
    secret = f"encrypted words {uuid.uuid4().hex[:12]}"
    RawEventsTable(lake, RAW_EVENTS).append(
        encrypted_row(lake_settings, alice["id"], key, {"text": secret, "mood": "calm"}),
        token=uuid.uuid4().hex,
    )
    pending = factories.journal(alice["id"], text=f"not flushed yet {alice['token']}p")
    assert (await client.post("/v1/logs", json={"entries": [pending]})).status_code == 202

    ctx = await context(lake_settings, alice["id"], data_key=key)
    stores = (*POSTGRES_STORES, "ingest.raw_events")
    got = await collect(ctx, stores)

    events = got["ingest.raw_events"]
    assert len(events.records) == 4  # journal, auth, mood, and the encrypted one
    bodies = {r["event_id"]: r["body"] for r in events.records}
    assert any(b and alice["token"] in b.get("text", "") for b in bodies.values())
    assert {"text": secret, "mood": "calm"} in bodies.values()  # decrypted
    assert secret in events.texts and any(alice["token"] in t for t in events.texts)
    assert "calm" not in events.texts  # an enumeration, not the user's words
    assert events.identifiers == [alice["id"]]
    assert not any(who["bob"]["token"] in t for t in events.texts)
    outbox = got["ingest.outbox"]
    assert len(outbox.records) == 4  # three flushed (kept for dedup), one pending
    assert any(f"{alice['token']}p" in t for t in outbox.texts)
    assert alice["email"] in got["ingest.identifiers"].identifiers
    dead = got["ingest.dead_letters"]
    assert sorted(r["source"] for r in dead.records) == ["logs", "segment"]
    assert any(f"{alice['token']}d" in t for t in dead.texts)

    needles = [alice["id"], alice["email"], alice["token"]]
    assert find(lake, needles)  # there before
    assert all(await postgres_rows(alice["id"]))
    version = lake.delta_table(RAW_EVENTS).version()  # type: ignore[union-attr]

    counts = await erase(ctx, stores)

    assert counts["ingest.raw_events"]["rows"] == 4
    assert counts["ingest.raw_events"]["files_purged"] >= 1
    assert counts["ingest.outbox"] == {"rows": 4}
    assert counts["ingest.dead_letters"] == {"rows": 2}
    assert find(lake, needles) == []  # data files and _delta_log alike
    assert await postgres_rows(alice["id"]) == {"outbox": 0, "identifiers": 0, "dead_letters": 0}
    for name in ("bob", "carol"):  # everyone else intact
        other = who[name]
        assert find(lake, [other["id"], other["token"]])
        assert len([r for r in raw_rows(lake_settings) if r["user_id"] == other["id"]]) == 3
        assert await postgres_rows(other["id"]) == {
            "outbox": 3,
            "identifiers": 3,  # email, name, phone
            "dead_letters": 1,
        }
    assert await count(
        "SELECT count(*) FROM ingest.dead_letters WHERE payload->>'anonymousId' = 'device-1'"
    )

    # a second erasure finds nothing and commits nothing
    after = lake.delta_table(RAW_EVENTS).version()  # type: ignore[union-attr]
    assert after > version
    again = await erase(ctx, stores)
    assert all(v == 0 for c in again.values() for v in c.values()), again
    assert lake.delta_table(RAW_EVENTS).version() == after  # type: ignore[union-attr]
    assert all(not c.records for c in (await collect(ctx, stores)).values())


async def test_events_of_an_erased_key_are_collected_without_their_text(
    lake_settings: IngestSettings, database: str
) -> None:
    user = f"u_gone_{uuid.uuid4().hex[:8]}"
    lake = Lake(lake_settings)
    rows = encrypted_row(lake_settings, user, new_key(), {"text": "lost words"})
    RawEventsTable(lake, RAW_EVENTS).append(rows, token=uuid.uuid4().hex)
    got = await HANDLERS["ingest.raw_events"].collect(await context(lake_settings, user))
    assert [r["body"] for r in got.records] == [None] and got.texts == []


# --- through run_step, as the worker runs it -------------------------------------------------
async def new_request(settings: IngestSettings, user_id: str, stores: list[str]) -> uuid.UUID:
    keys = DataKeys(settings)
    request_key = new_key()
    request_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO common.subject_requests (id, kind, subject_key, status, sealed_user,"
                " wrapped_key, requested_by, created_at, deadline, verify_attempts)"
                " VALUES (:id, 'export', :s, 'running', :u, :k, 'test', :now, :deadline, 0)"
            ),
            {
                "id": request_id,
                "s": subject_key(user_id, settings),
                "u": seal(request_key, user_id.encode(), b"user"),
                "k": keys.provider.wrap(request_key),
                "now": now,
                "deadline": now + timedelta(hours=24),
            },
        )
        for store in stores:
            for phase in (Phase.COLLECT, Phase.ERASE):
                await conn.execute(
                    text(
                        "INSERT INTO common.subject_request_steps (request_id, store, phase,"
                        " status, attempts, updated_at) VALUES (:r, :s, :p, 'pending', 0, now())"
                    ),
                    {"r": request_id, "s": store, "p": phase},
                )
    return request_id


async def test_run_step_collects_and_erases_an_ingest_store(
    client: Any, lake_settings: IngestSettings
) -> None:
    who = people()
    entries = [factories.journal(p["id"], text=p["sentence"]) for p in who.values()]
    assert (await client.post("/v1/logs", json={"entries": entries})).status_code == 202
    lake = Lake(lake_settings)
    await flush_outbox(lake_settings, lake)
    alice = who["alice"]
    request_id = await new_request(lake_settings, alice["id"], ["ingest.raw_events"])

    async def step(phase: str) -> str:
        return await run_step(
            get_engine(),
            lake,
            lake_settings,
            HANDLERS,
            request_id=request_id,
            store="ingest.raw_events",
            phase=phase,
        )

    assert await step(Phase.COLLECT) == "done"
    async with get_engine().connect() as conn:
        request = await open_request(conn, request_id, DataKeys(lake_settings))
    assert request is not None
    part = Collected.from_json(read_part(lake, request, "parts/ingest.raw_events"))
    assert [r["body"]["text"] for r in part.records] == [alice["sentence"]]
    assert alice["sentence"] in part.texts

    assert await step(Phase.ERASE) == "done"
    async with get_engine().connect() as conn:
        counts = await conn.scalar(
            text(
                "SELECT counts FROM common.subject_request_steps"
                " WHERE request_id = :r AND store = 'ingest.raw_events' AND phase = 'erase'"
            ),
            {"r": request_id},
        )
    assert counts["rows"] == 1
    assert [r["user_id"] for r in raw_rows(lake_settings) if r["user_id"] == alice["id"]] == []
    assert find(lake, [alice["id"], alice["token"]], "raw") == []
