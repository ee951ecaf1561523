"""The ingest service's stores for erasure and portability, pull jobs: pulled tables and
the dropped files, with and without a subject_field, for three users, then collect and erase
for one of them, on a local folder and on S3 over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.lake_locks import JobBusy, release_pull_job_lock, take_pull_job_lock
from services.ingest.config import IngestSettings
from services.ingest.pull.runner import run_pull
from services.ingest.subjects.stores import HANDLERS
from services.ingest.subjects.text import holds_id, mentions
from tests.ingest.lake_scan import find, lake_texts
from tests.ingest.subject_support import collect, context, data_key, erase, people


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
