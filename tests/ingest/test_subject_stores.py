"""The ingest service's stores for erasure and portability: data for three users through the
real paths (POST /v1/logs and the flush, Segment, CSV upload, a pull job), then collect and
erase for one of them, on a local folder and on S3 over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.contracts import SubjectStore
from libs.common.crypto import DataKeys, encrypt_text, new_key, seal
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.lake_locks import JobBusy, release_pull_job_lock, take_pull_job_lock
from libs.common.lake_tables import RAW_EVENTS
from libs.common.subject_rights import (
    Collected,
    Phase,
    SubjectContext,
    open_request,
    read_part,
    run_step,
)
from libs.common.subjects import subject_key
from services.ingest.config import IngestSettings
from services.ingest.flush.raw_table import SCHEMA, RawEventsTable
from services.ingest.flush.service import flush_outbox
from services.ingest.pull.runner import run_pull
from services.ingest.subjects.stores import HANDLERS, NO_SUBJECT_DATA
from services.ingest.subjects.text import holds_id, mentions
from tests import factories
from tests.ingest.lake_scan import find, lake_texts

NAMES = ("alice", "bob", "carol")
POSTGRES_STORES = ("ingest.outbox", "ingest.identifiers", "ingest.dead_letters")


# --- helpers ---------------------------------------------------------------------------------
def people() -> dict[str, dict[str, str]]:
    """Per user: an id, an email and a sentence only they wrote (a token the scrubber keeps)."""
    out = {}
    for name in NAMES:
        tag = uuid.uuid4().hex[:10]
        out[name] = {
            "id": f"u_{name}_{tag}",
            "email": f"{name}.{tag}@example.org",
            "phone": f"+1 415 555 {int(tag[:4], 16) % 10000:04d}",
            "token": f"zq{tag}",
            "sentence": f"the lighthouse counted zq{tag} gulls at dawn",
        }
    return out


async def context(
    settings: IngestSettings, user_id: str, *, data_key: bytes | None = None
) -> SubjectContext:
    return SubjectContext(
        request_id=uuid.uuid4(),
        kind="erasure",
        user_id=user_id,
        subject_key=subject_key(user_id, settings),
        data_key=data_key,
        settings=settings,
        lake=Lake(settings),
        engine=get_engine(),
    )


async def data_key(settings: IngestSettings, user_id: str) -> bytes:
    subject = subject_key(user_id, settings)
    async with get_engine().begin() as conn:
        return (await DataKeys(settings).for_subjects(conn, [subject], create=True))[subject]


async def collect(ctx: SubjectContext, stores: tuple[str, ...]) -> dict[str, Collected]:
    return {s: await HANDLERS[s].collect(ctx) for s in stores}


async def erase(ctx: SubjectContext, stores: tuple[str, ...]) -> dict[str, dict[str, int]]:
    return {s: await HANDLERS[s].erase(ctx) for s in stores}


async def count(sql: str, **params: Any) -> int:
    async with get_engine().connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def postgres_rows(user_id: str) -> dict[str, int]:
    return {
        "outbox": await count("SELECT count(*) FROM ingest.outbox WHERE user_id = :u", u=user_id),
        "identifiers": await count(
            "SELECT count(*) FROM ingest.user_identifiers WHERE user_id = :u", u=user_id
        ),
        "dead_letters": await count(
            "SELECT count(*) FROM ingest.dead_letters WHERE payload::text LIKE :p",
            p=f"%{user_id}%",
        ),
    }


def raw_rows(settings: IngestSettings) -> list[dict[str, Any]]:
    table = Lake(settings).delta_table(RAW_EVENTS)
    return [] if table is None else table.to_pyarrow_table().to_pylist()


def encrypted_row(settings: IngestSettings, user_id: str, key: bytes, body: dict[str, Any]) -> Any:
    """A raw row as the flush writes it once body and extras are encrypted."""
    subject = subject_key(user_id, settings)
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "event_id": f"enc-{uuid.uuid4().hex}",
                "service": "journal-service",
                "event_date": now.date(),
                "event_type": "log",
                "user_id": user_id,
                "subject_key": subject,
                "event_time": now,
                "received_at": now,
                "body": encrypt_text(key, orjson.dumps(body).decode(), subject),
                "extras": encrypt_text(key, orjson.dumps({"device": "pixel"}).decode(), subject),
                "pii_findings": 0,
                "flush_batch": 0,
            }
        ],
        schema=SCHEMA,
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


# --- CSV: tenant tables, quarantine, dead letters ----------------------------------------------
@pytest.fixture
async def csv_client(client: Any, lake_settings: Any) -> AsyncIterator[Any]:
    from services.ingest.main import app

    app.state.ingest_settings = lake_settings
    yield client
    del app.state.ingest_settings


async def upload(client: Any, body: str, tenant: str, data_type: str) -> dict[str, Any]:
    reply = await client.post(
        "/internal/data/upload-csv",
        params={"tenant": tenant, "data_type": data_type},
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def test_csv_tenant_tables_quarantine_and_dead_letters(
    csv_client: Any, lake_settings: IngestSettings
) -> None:
    ids = {name: p["id"] for name, p in people().items()}
    a, b, c = ids["alice"], ids["bob"], ids["carol"]
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    report = await upload(
        csv_client,
        "user_id,item_id,interaction_type,timestamp,rating\n"
        f"{a},i_1,view,2026-01-05T10:00:00Z,4.5\n"
        f"{a},i_2,like,2026-01-06T10:00:00Z,\n"
        f"{b},i_1,click,2026-01-05T11:00:00Z,\n"
        f"{c},i_3,purchase,2026-01-07T10:00:00Z,5\n"
        f"{a},i_4,bogus,2026-01-05T10:00:00Z,\n"  # rejected: quarantine + dead letter
        f"{b},i_5,bogus,2026-01-05T10:00:00Z,\n"
        f"{a},i_6\n",  # malformed: kept as raw text
        tenant,
        "interactions",
    )
    assert (report["rows_landed"], report["rows_rejected"]) == (4, 3)
    await upload(csv_client, f"item_id,category,title\ni_1,books,{a}x\n", tenant, "items")
    lake = Lake(lake_settings)
    quarantine = report["quarantine"]

    ctx = await context(lake_settings, a)
    stores = ("ingest.tenant_tables", "ingest.quarantine", "ingest.dead_letters")
    got = await collect(ctx, stores)
    assert sorted(r["item_id"] for r in got["ingest.tenant_tables"].records) == ["i_1", "i_2"]
    assert {r["tenant"] for r in got["ingest.tenant_tables"].records} == {tenant}
    assert sorted(r["row_number"] for r in got["ingest.quarantine"].records) == [5, 7]
    assert len(got["ingest.dead_letters"].records) == 2
    assert find(lake, [a], "raw/quarantine") and find(lake, [a], "raw/tenants")

    counts = await erase(ctx, stores)

    assert counts["ingest.tenant_tables"]["rows"] == 2
    assert counts["ingest.quarantine"] == {"rows": 2, "files_rewritten": 1, "files_deleted": 0}
    assert counts["ingest.dead_letters"] == {"rows": 2}
    # the only trace left: the items table's title, which is no user column
    assert find(lake, [a], "raw") == [(f"{_items_file(lake, tenant)}", a)]
    assert (
        await count(
            "SELECT count(*) FROM ingest.dead_letters WHERE payload::text LIKE :p", p=f"%{a}%"
        )
        == 0
    )
    table = lake.delta_table(f"raw/tenants/{tenant}/interactions")
    assert table is not None
    assert sorted(r["user_id"] for r in table.to_pyarrow_table().to_pylist()) == sorted([b, c])
    assert find(
        lake, [b], quarantine.rsplit("/", 1)[0]
    )  # bob's rejected row stays in the rewritten file
    assert await count(
        "SELECT count(*) FROM ingest.dead_letters WHERE payload->>'user_id' = :u", u=b
    )

    again = await erase(ctx, stores)
    assert all(v == 0 for c in again.values() for v in c.values()), again


def _items_file(lake: Lake, tenant: str) -> str:
    (path,) = [
        o.path
        for o in lake.list(f"raw/tenants/{tenant}/items")
        if o.path.endswith(".parquet") and "_delta_log" not in o.path
    ]
    return path


# --- pulled tables ---------------------------------------------------------------------------
@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Any]:
    import httpx

    from services.ingest.main import app

    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"subj-{uuid.uuid4().hex[:6]}", scopes=[Scope.ADMIN], services=["*"]
        )
        await session.commit()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://ingest",
            headers={"Authorization": f"Bearer {key}"},
        ) as http,
    ):
        yield http


async def test_pulled_tables_and_a_running_job(admin: Any, lake_settings: IngestSettings) -> None:
    who = people()
    lake = Lake(lake_settings)
    drop = f"incoming/{uuid.uuid4().hex[:8]}"
    lines = [
        {"user_id": p["id"], "note": f"pulled note {p['token']}", "score": i}
        for i, p in enumerate(who.values())
    ]
    unknown = {"referrer": who["alice"]["id"], "score": 9}  # no user_id: no subject_key
    body = b"\n".join(orjson.dumps(r) for r in [*lines * 2, unknown])
    lake.write_bytes(f"{drop}/batch-1.jsonl", body)
    reply = await admin.post(
        "/v1/pull-jobs",
        json={
            "name": f"drop-{uuid.uuid4().hex[:8]}",
            "source": {"kind": "file_drop", "path": drop, "pattern": "batch-*"},
            "schedule": {"cron": "*/5 * * * *"},
            "landing": {"subject_field": "user_id"},
        },
    )
    assert reply.status_code == 201, reply.text
    job = reply.json()
    assert (await run_pull(job["id"], lake_settings, lake, trigger="manual")).rows == 7
    alice = who["alice"]
    key = await data_key(lake_settings, alice["id"])  # the run's (records may be encrypted)
    ctx = await context(lake_settings, alice["id"], data_key=key)
    store = HANDLERS["ingest.pulled_tables"]

    got = await store.collect(ctx)
    assert [r["record"]["score"] for r in got.records] == [0, 0, 9]  # by key, then by her id
    assert any(alice["token"] in t for t in got.texts)

    # a run in progress holds the job's lock: the step fails, to be retried
    async with get_engine().connect() as other:
        assert await take_pull_job_lock(other, job["id"])
        await other.commit()
        with pytest.raises(JobBusy):
            await store.erase(ctx)
        await release_pull_job_lock(other, job["id"])
        await other.commit()

    counts = await store.erase(ctx)
    assert counts["rows"] == 3 and counts["rows_by_id"] == 1 and counts["files_purged"] >= 1
    # no data file holds a row of hers (records are encrypted: her key, the plain column);
    # the keyed hash stays only in the DELETE's predicate in the log (it is not the user id)
    assert find(lake, [alice["token"], alice["id"]], "raw") == []
    assert {p.split("/")[-2] for p, _ in find(lake, [ctx.subject_key], "raw")} == {"_delta_log"}
    assert (await store.collect(ctx)).records == []
    bob = who["bob"]
    bob_ctx = await context(
        lake_settings, bob["id"], data_key=await data_key(lake_settings, bob["id"])
    )
    assert [r["record"]["note"] for r in (await store.collect(bob_ctx)).records] == [
        f"pulled note {bob['token']}"
    ] * 2
    assert (await store.erase(ctx))["rows"] == 0

    # the dropped file the job took still holds her records: ingest.pull_drops rewrites it
    drops = HANDLERS["ingest.pull_drops"]
    assert [r["record"]["score"] for r in (await drops.collect(ctx)).records] == [0, 0, 9]
    assert await drops.erase(ctx) == {"records": 3, "files_rewritten": 1, "files_deleted": 0}
    left = lake.read_bytes(f"{drop}/batch-1.jsonl")
    assert alice["id"].encode() not in left and alice["token"].encode() not in left
    assert left.count(bob["token"].encode()) == 2
    assert (await drops.erase(ctx))["records"] == 0


# --- a job without a subject_field: records found by the user id ------------------------------
def test_holds_id_is_an_identifier_match() -> None:
    assert holds_id({"member": "u-1", "n": 2}, "u-1")
    assert holds_id({"visit": {"with": ["x", "u-1"]}}, "u-1")  # a nested string
    assert holds_id({"member": 12345}, "12345")  # a top-level number
    assert not holds_id({"member": "u-10", "note": "saw u-1 today"}, "u-1")
    assert not holds_id({"member": True, "n": 1}, "True")


async def test_a_job_without_subject_field_by_the_user_id(
    admin: Any, lake_settings: IngestSettings
) -> None:
    who = people()
    alice, a, b, c = who["alice"], who["alice"]["id"], who["bob"]["id"], who["carol"]["id"]
    lake = Lake(lake_settings)
    drop = f"incoming/{uuid.uuid4().hex[:8]}"
    lake.write_bytes(
        f"{drop}/batch-1.csv",
        (
            "member,note,score\n"
            f"{a},first visit {alice['token']},1\n"
            f"{b},checked in,2\n"
            f"{a}x,a longer id holding hers,3\n"  # not her id: kept
            f"{c},checked in,4\n"
            f"{a},second visit,5\n"
        ).encode(),
    )
    name = f"nosubj-{uuid.uuid4().hex[:8]}"
    reply = await admin.post(
        "/v1/pull-jobs",
        json={
            "name": name,
            "source": {"kind": "file_drop", "path": drop, "pattern": "batch-*"},
            "schedule": {"cron": "*/5 * * * *"},
            "landing": {"keep_fields": ["member"]},
        },
    )
    assert reply.status_code == 201, reply.text
    job = reply.json()
    assert (await run_pull(job["id"], lake_settings, lake, trigger="manual")).rows == 5
    lines = [
        {"member": b, "visit": {"with": a, "room": 3}},  # hers by a nested value
        {"member": c, "ref": f"{a}-old"},  # not her id: kept
    ]
    lake.write_bytes(f"{drop}/batch-2.jsonl", b"\n".join(orjson.dumps(r) for r in lines))
    assert (await run_pull(job["id"], lake_settings, lake, trigger="manual")).rows == 2
    lake.write_bytes(f"{drop}/batch-3.csv", f"member,note\n{b},later\n{c},later\n".encode())
    assert (await run_pull(job["id"], lake_settings, lake, trigger="manual")).rows == 2

    ctx = await context(lake_settings, a)  # no data key: her records were never encrypted
    stores = ("ingest.pull_drops", "ingest.pulled_tables")
    got = await collect(ctx, stores)
    drops, pulled = got["ingest.pull_drops"], got["ingest.pulled_tables"]
    assert sorted((r["file"].rsplit("/", 1)[-1], str(r["record"])) for r in drops.records) == [
        ("batch-1.csv", str({"member": a, "note": f"first visit {alice['token']}", "score": "1"})),
        ("batch-1.csv", str({"member": a, "note": "second visit", "score": "5"})),
        ("batch-2.jsonl", str(lines[0])),
    ]
    assert sorted(str(r["record"]) for r in pulled.records) == sorted(
        str(r["record"]) for r in drops.records
    )
    assert {r["job"] for r in pulled.records} == {name}
    for part in (drops, pulled):
        assert f"first visit {alice['token']}" in part.texts and a not in part.texts
        assert part.identifiers == [a]
    table_path = f"raw/pulled/{name}"
    version = lake.delta_table(table_path).version()  # type: ignore[union-attr]
    token = mentions(a)
    held = {p.rsplit("/", 1)[0] for p, text in lake_texts(lake, "").items() if token.search(text)}
    assert held == {drop, table_path}  # in clear: the drops, the table's data files

    counts = await erase(ctx, stores)

    assert counts["ingest.pull_drops"] == {"records": 3, "files_rewritten": 2, "files_deleted": 0}
    by_id = counts["ingest.pulled_tables"]
    assert by_id["rows"] == by_id["rows_by_id"] == 3
    assert by_id["files_rewritten"] >= 2 and by_id["files_purged"] >= 2
    # her id is nowhere as an identifier (longer values holding it stay), never in a log
    assert [p for p, text in lake_texts(lake, "").items() if token.search(text)] == []
    assert [p for p, _ in find(lake, [a, alice["token"]]) if "/_delta_log/" in p] == []
    assert [p for p, _ in find(lake, [alice["token"]])] == []
    left = lake.read_bytes(f"{drop}/batch-1.csv").decode()
    assert left.splitlines() == [
        "member,note,score",
        f"{b},checked in,2",
        f"{a}x,a longer id holding hers,3",
        f"{c},checked in,4",
    ]
    assert orjson.loads(lake.read_bytes(f"{drop}/batch-2.jsonl")) == lines[1]
    table = lake.delta_table(table_path)
    assert table is not None
    kept = [orjson.loads(r["record"]) for r in table.to_pyarrow_table().to_pylist()]
    assert sorted(r["member"] for r in kept) == sorted([b, f"{a}x", c, c, b, c])
    assert {r.get("ref") for r in kept} == {None, f"{a}-old"}
    bob = await HANDLERS["ingest.pulled_tables"].collect(await context(lake_settings, b))
    assert len(bob.records) == 2  # his CSV rows (the JSON line naming her too went)

    # nothing left: no commit; the job's position survives the rewrite (nothing taken twice)
    after = table.version()
    assert after > version
    again = await erase(ctx, stores)
    assert all(v == 0 for step in again.values() for v in step.values()), again
    assert lake.delta_table(table_path).version() == after  # type: ignore[union-attr]
    assert all(not part.records for part in (await collect(ctx, stores)).values())
    assert (await run_pull(job["id"], lake_settings, lake, trigger="manual")).rows == 0


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
