"""Erasure and portability end to end: real workers for ingest, consent and compliance, real
Postgres and Redis, the lake on an S3 API over HTTP.

Many users' logs, consent, CSV interactions and dead letters go in; one user is erased and
then nothing of theirs (id, email, the sentences only they wrote) is found in any lake object
(table logs included), any Postgres table or Redis, while everyone else's data is intact and
readable; another user's portability archive holds all their events.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.crypto import DataKeys
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.lake_crypto import decrypt_table
from tests import factories
from tests.ingest.lake_scan import find
from tests.integration.services import lake_env, pointed_at, tails, workers

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

SENTENCES = [
    "The lighthouse keeper taught me to whistle through a blade of grass",
    "I keep a jar of sea glass from every beach I walked with grandmother",
    "Tonight the violet kayak finally felt like mine again after the storm",
]

# Replies that differ from user to user: the export drops near-duplicate pairs, and twelve
# users with one reply would leave a single pair, picked by arrival order.
OPENINGS = [
    "Thank you for telling me about this.",
    "That sounds like a heavy day to carry.",
    "I am glad you reached out tonight.",
    "It makes sense that this stays with you.",
]
SUGGESTIONS = [
    "Would you like to try a short breathing exercise together?",
    "Maybe writing down three small things that went well could help.",
    "A slow walk outside might give your mind some room.",
]


def unique_sentences(tag: str) -> list[str]:
    return [f"{s} ({tag})" for s in SENTENCES]


async def admin_key() -> str:
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"e2e-{uuid.uuid4().hex[:6]}", scopes=[Scope.ADMIN], services=["*"]
        )
        await session.commit()
    return key


async def wait_until(check: Any, within_s: float, logs: dict[str, Path], what: str) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{tails(logs)}")


async def scalar(sql: str, **params: Any) -> Any:
    async with get_engine().connect() as conn:
        return await conn.scalar(text(sql), params)


# --- independent search (not the service's own scan) -----------------------------------------
async def postgres_hits(needles: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    async with get_engine().connect() as conn:
        tables = (
            await conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables"
                    " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN"
                    " ('pg_catalog', 'information_schema')"
                )
            )
        ).all()
        for schema, table in tables:
            where = " OR ".join(f"strpos(t::text, :n{i}) > 0" for i in range(len(needles)))
            count = await conn.scalar(
                text(f'SELECT count(*) FROM "{schema}"."{table}" t WHERE {where}'),
                {f"n{i}": n for i, n in enumerate(needles)},
            )
            if count:
                found[f"{schema}.{table}"] = int(count)
    return found


async def redis_hits(redis_url: str, needles: list[str]) -> list[str]:
    redis = Redis.from_url(redis_url)
    found = []
    try:
        async for key in redis.scan_iter(count=500):
            kind = (await redis.type(key)).decode()
            if kind == "string":
                values = [await redis.get(key) or b""]
            elif kind == "list":
                values = await redis.lrange(key, 0, -1)
            elif kind == "hash":
                values = [k + b"=" + v for k, v in (await redis.hgetall(key)).items()]
            elif kind in ("set", "zset"):
                values = (
                    list(await redis.smembers(key))
                    if kind == "set"
                    else [m for m, _ in await redis.zrange(key, 0, -1, withscores=True)]
                )
            else:
                values = []
            blob = key + b"\n" + b"\n".join(values)
            blob += b"\n" + _kombu_bodies(values)
            if any(n.encode() in blob for n in needles):
                found.append(key.decode(errors="replace"))
    finally:
        await redis.aclose()
    return found


def _kombu_bodies(values: list[bytes]) -> bytes:
    import base64

    out = []
    for value in values:
        try:
            body = orjson.loads(value).get("body")
            out.append(base64.b64decode(body))
        except Exception:
            continue
    return b"\n".join(out)


# --- the test --------------------------------------------------------------------------------
@pytest.fixture
def s3_lake(s3_server: str) -> Any:
    from services.compliance.config import ComplianceSettings

    return ComplianceSettings(
        lake_root=f"s3://mindlake-test/{uuid.uuid4().hex}",
        s3_endpoint_url=s3_server,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_allow_http=True,
    )


@pytest.fixture
async def apps(
    s3_lake: Any, monkeypatch: pytest.MonkeyPatch, database: str, redis_url: str
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    with pointed_at(monkeypatch, lake_env(s3_lake)):
        from services.compliance.main import create_app as compliance_app
        from services.consent.main import create_app as consent_app
        from services.export.main import create_app as export_app
        from services.ingest.main import create_app as ingest_app

        key = await admin_key()
        clients = {}
        apps = {
            "ingest": ingest_app(),
            "consent": consent_app(),
            "compliance": compliance_app(),
            "export": export_app(),
        }
        contexts = [app.router.lifespan_context(app) for app in apps.values()]
        for ctx in contexts:
            await ctx.__aenter__()
        try:
            for name, app in apps.items():
                clients[name] = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url=f"http://{name}",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=60,
                )
            yield clients
        finally:
            for client in clients.values():
                await client.aclose()
            for ctx in reversed(contexts):
                await ctx.__aexit__(None, None, None)


async def post_logs(ingest: httpx.AsyncClient, entries: list[dict[str, Any]]) -> dict[str, Any]:
    reply = await ingest.post("/v1/logs", json={"entries": entries})
    assert reply.status_code in (202, 207, 422), reply.text
    body: dict[str, Any] = reply.json()
    return body


async def test_erasure_leaves_no_trace_and_export_holds_everything(
    apps: dict[str, httpx.AsyncClient], s3_lake: Any, redis_url: str, tmp_path: Path
) -> None:
    ingest, consent, compliance = apps["ingest"], apps["consent"], apps["compliance"]
    run = uuid.uuid4().hex[:8]
    users = [f"e2e{run}-u{i:02d}" for i in range(12)]
    erased, exported = users[0], users[1]
    erased_email = f"kayak.{run}@example.org"
    erased_sentences = unique_sentences(f"{run}-erased")
    exported_sentences = unique_sentences(f"{run}-exported")

    # Everyone's logs: journals, chat, moods, an auth event with an email.
    sent: dict[str, int] = {}
    entries: list[dict[str, Any]] = []
    for i, user in enumerate(users):
        own = (
            erased_sentences if user == erased
            else exported_sentences if user == exported
            else unique_sentences(f"{run}-{i}")
        )  # fmt: skip
        mine = [factories.journal(user, text=f"{s}. I feel calmer now.") for s in own]
        mine += [factories.lyfbot(user) for _ in range(3)] + [
            factories.mood(user) for _ in range(2)
        ]
        mine.append(  # a chat turn of their own, for the training export
            factories.lyfbot(
                user,
                prompt=f"{own[0]}. What can I do about it?",
                response=f"{OPENINGS[i % 4]} {SUGGESTIONS[i % 3]}",
            )
        )
        email = erased_email if user == erased else f"someone.{run}.{i}@example.org"
        mine.append(factories.auth(user, email=email))
        entries += mine
        sent[user] = len(mine)
    # Two events of users[2] from 400 days ago: past the raw events' 365-day retention.
    old_time = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    entries += [factories.mood(users[2], score=s, timestamp=old_time) for s in (3, 4)]
    reply = await post_logs(ingest, entries)
    assert reply["accepted"] == len(entries), reply.get("rejected")
    # A rejected entry of the erased user: kept as a dead letter, with their text.
    bad = factories.mood(erased, score=99)
    bad["notes"] = erased_sentences[0]
    await post_logs(ingest, [bad])
    # Consent for everyone; the erased user's history has two entries.
    for user in users:
        change = {"purposes": {"ai_training": True, "analytics": True}, "policy_version": "v1"}
        assert (await consent.put(f"/v1/consent/{user}", json=change)).status_code == 200
    withdraw = {"purposes": {"ai_training": False}, "policy_version": "v1"}
    withdrawn = users[3]  # out of AI training from now on
    assert (await consent.put(f"/v1/consent/{withdrawn}", json=withdraw)).status_code == 200
    again = {"purposes": {"analytics": False}, "policy_version": "v1"}  # a second ledger entry
    assert (await consent.put(f"/v1/consent/{erased}", json=again)).status_code == 200
    assert (await consent.get(f"/v1/consent/{erased}")).status_code == 200  # an audit entry
    # CSV interactions, with one invalid row of the erased user (quarantined).
    csv_rows = ["user_id,item_id,interaction_type,timestamp,rating"]
    csv_rows += [f"{u},item-{j},view,2026-11-20T10:0{j}:00Z,4" for u in users for j in range(3)]
    csv_rows.append(f"{erased},item-9,view,not-a-time,4")
    upload = await ingest.post(
        "/internal/data/upload-csv",
        params={"tenant": f"t{run}", "data_type": "interactions"},
        content="\n".join(csv_rows).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code in (200, 201, 207), upload.text

    env = lake_env(s3_lake)
    with workers(env, tmp_path, "ingest", "consent", "compliance", "export", "beat") as logs:
        from services.ingest.worker import celery_app

        celery_app.send_task("ingest.flush", queue="ingest")
        celery_app.send_task("consent.backup", queue="consent")
        await wait_until(
            lambda: scalar("SELECT count(*) = 0 FROM ingest.outbox WHERE flushed_at IS NULL"),
            180, logs, "the outbox to drain",
        )  # fmt: skip
        lake = Lake(s3_lake)
        await wait_until(
            lambda: _async(any("consent_backup" in o.path for o in lake.list(""))),
            60, logs, "the consent backup",
        )  # fmt: skip
        celery_app.send_task("compliance.chain_audit", queue="compliance")

        # Portability: everything about one user.
        reply = await compliance.post(f"/v1/subjects/{exported}/export")
        assert reply.status_code == 202, reply.text
        export_id = reply.json()["request_id"]

        async def export_done() -> dict[str, Any] | None:
            info = (await compliance.get(f"/v1/subject-exports/{export_id}")).json()
            return info if info["status"] == "done" else None

        info = await wait_until(export_done, 180, logs, "the export")
        download = await compliance.get(info["download_url"])
        assert download.status_code == 200, download.text[:500]
        assert download.content[:2] == b"PK", download.content[:300]
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            manifest = orjson.loads(archive.read("manifest.json"))
            events = orjson.loads(archive.read("ingest.raw_events.json"))
            ledger = orjson.loads(archive.read("consent.ledger.json"))
        assert manifest["user_id"] == exported
        assert len(events) == sent[exported]
        archived_text = orjson.dumps(events).decode()
        assert all(s in archived_text for s in exported_sentences)  # decrypted
        assert len(ledger) == 2  # one entry per purpose granted
        tampered = info["download_url"].replace("signature=", "signature=0")
        assert (await compliance.get(tampered)).status_code == 400

        # An AI training export: consented users' chat turns, the withdrawn user's left out.
        today = datetime.now(UTC).date()
        job = await apps["export"].post(
            "/v1/exports",
            json={"start_date": str(today - timedelta(days=1)), "end_date": str(today),
                  "min_quality": 0.5},
        )  # fmt: skip
        assert job.status_code == 202, job.text
        training_id = job.json()["id"]

        async def export_finished() -> dict[str, Any] | None:
            info = (await apps["export"].get(f"/v1/exports/{training_id}")).json()
            return info if info["status"] in ("done", "failed") else None

        training = await wait_until(export_finished, 180, logs, "the training export")
        assert training["status"] == "done", training
        exported_text = training_text(lake, training)
        assert erased_sentences[0] in exported_text and exported_sentences[0] in exported_text
        assert f"{run}-3)" not in exported_text  # the withdrawn user's
        assert all(f"({run}-{i})" in exported_text for i in range(4, 12))  # nobody else lost

        # Erasure.
        reply = await compliance.post(f"/v1/subjects/{erased}/erasure")
        assert reply.status_code == 202, reply.text
        erasure_id = reply.json()["request_id"]
        again = await compliance.post(f"/v1/subjects/{erased}/erasure")
        assert again.json()["request_id"] == erasure_id  # the open request, not a second one

        async def erasure_done() -> dict[str, Any] | None:
            info = (await compliance.get(f"/v1/erasure/{erasure_id}")).json()
            return info if info["status"] == "done" else None

        try:
            status = await wait_until(erasure_done, 240, logs, "the erasure")
        except AssertionError:
            info = (await compliance.get(f"/v1/erasure/{erasure_id}")).json()
            raise AssertionError(orjson.dumps(info, default=str).decode()[:6000]) from None
        assert status["failed_stores"] == []
        receipt = (await compliance.get(f"/v1/erasure/{erasure_id}/receipt")).json()
        assert receipt["verification"]["clean"] is True
        assert receipt["verification"]["traces"] == []
        assert set(receipt["stores"]) == {s for s in receipt["stores"]}  # every store reported
        assert receipt["stores"]["ingest.raw_events"]["removed"]["rows"] == sent[erased]

        # The existing training export was rewritten without the erased user.
        training = (await apps["export"].get(f"/v1/exports/{training_id}")).json()
        assert training["version"] == 2
        rewritten = training_text(lake, training)
        assert erased_sentences[0] not in rewritten and exported_sentences[0] in rewritten

        # Retention: only what is past its policy goes.
        run = await compliance.post("/v1/retention/run")
        assert run.status_code == 202, run.text

        async def retention_done() -> dict[str, Any] | None:
            items = (await compliance.get("/v1/retention/runs")).json()["items"]
            mine = [r for r in items if r["id"] == run.json()["id"]]
            return mine[0] if mine and mine[0]["status"] in ("done", "failed") else None

        retention = await wait_until(retention_done, 120, logs, "the retention run")
        assert retention["status"] == "done", retention
        assert retention["rows_removed"] == 2

        # Late data for the erased user is refused at flush; nobody else is affected.
        late = factories.journal(erased, text=f"{erased_sentences[1]} once more")
        await post_logs(ingest, [late, factories.journal(exported, text="a later entry")])
        celery_app.send_task("ingest.flush", queue="ingest")
        await wait_until(
            lambda: scalar("SELECT count(*) = 0 FROM ingest.outbox WHERE flushed_at IS NULL"),
            120, logs, "the late entries",
        )  # fmt: skip

    # No trace anywhere, by a search independent of the service's own scan.
    needles = [erased, erased_email, *erased_sentences]
    keys = await _live_keys()
    assert find(lake, needles, keys=keys, deep=True) == []
    assert await postgres_hits(needles) == {}
    assert await redis_hits(redis_url, needles) == []
    # Everyone else is intact and readable.
    table = lake.delta_table("raw/events")
    assert table is not None
    rows = decrypt_table(table.to_pyarrow_table(), keys, ["body", "extras"]).to_pylist()
    per_user: dict[str, int] = {}
    for row in rows:
        per_user[row["user_id"]] = per_user.get(row["user_id"], 0) + 1
        assert row["body"] is not None  # decryptable
    assert erased not in per_user
    assert per_user[exported] == sent[exported] + 1
    assert per_user[users[2]] == sent[users[2]]  # less its two expired events
    assert all(per_user[u] == sent[u] for u in users[3:])
    # The receipt's hash is in the audit chain, and the chain verifies.
    digest = await scalar(
        "SELECT count(*) FROM compliance.audit_log WHERE asset LIKE :a",
        a=f"erasure/{erasure_id}/receipt/sha256:%",
    )
    assert digest == 1
    verify = (await compliance.get("/v1/audit/verify")).json()
    assert verify["ok"] is True


def training_text(lake: Lake, job: dict[str, Any]) -> str:
    """The prompts and completions of a finished training export's JSONL files."""
    files = job["manifest"]["files"]
    texts = [
        gzip.decompress(lake.read_bytes(f["path"])).decode()
        for name, f in files.items()
        if name.endswith("_jsonl")
    ]
    return "\n".join(texts)


async def _async(value: Any) -> Any:
    return value


async def _live_keys() -> dict[str, bytes]:
    async with get_engine().connect() as conn:
        return await DataKeys().all(conn)
