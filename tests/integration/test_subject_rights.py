"""Erasure and portability end to end: real workers for ingest, consent and compliance, real
Postgres and Redis, the lake on an S3 API over HTTP.

Many users' logs, consent, CSV interactions, dead letters and persona uploads (categorized and
built by the embedding worker) go in; one user is erased and
then nothing of theirs (id, email, the sentences only they wrote) is found in any lake object
(table logs included), any Postgres table or Redis, while everyone else's data is intact and
readable; another user's portability archive holds all their events and personas.
"""

from __future__ import annotations

import gzip
import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from libs.common.crypto import DataKeys
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_crypto import decrypt_table
from libs.common.subjects import subject_key
from scripts.persona_samples import BANK_CSV, SOCIAL_JSON
from tests import factories
from tests.ingest.lake_scan import find
from tests.integration.services import lake_env, workers
from tests.integration.subject_rights_support import (
    OPENINGS,
    SUGGESTIONS,
    apps,  # noqa: F401
    post_logs,
    s3_lake,  # noqa: F401
    scalar,
    unique_sentences,
    wait_until,
)
from tests.integration.trace_search import postgres_hits, redis_hits

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


# --- the test --------------------------------------------------------------------------------
async def test_erasure_leaves_no_trace_and_export_holds_everything(
    apps: dict[str, httpx.AsyncClient],  # noqa: F811
    s3_lake: Any,  # noqa: F811
    redis_url: str,
    tmp_path: Path,
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
        change = {
            "purposes": {"ai_training": True, "analytics": True, "personalization": True},
            "policy_version": "v1",
        }
        assert (await consent.put(f"/v1/consent/{user}", json=change)).status_code == 200
    withdraw = {"purposes": {"ai_training": False}, "policy_version": "v1"}
    withdrawn = users[3]  # out of AI training from now on
    assert (await consent.put(f"/v1/consent/{withdrawn}", json=withdraw)).status_code == 200
    again = {"purposes": {"analytics": False}, "policy_version": "v1"}  # a second ledger entry
    assert (await consent.put(f"/v1/consent/{erased}", json=again)).status_code == 200
    assert (await consent.get(f"/v1/consent/{erased}")).status_code == 200  # an audit entry
    # Persona uploads of two users: categorized and built by the embedding worker below.
    for user in (erased, exported):
        for name, body, media in (
            ("bank.csv", BANK_CSV, "text/csv"),
            ("instagram.json", SOCIAL_JSON, "application/json"),
        ):
            reply = await apps["embedding"].post(
                f"/v1/users/{user}/uploads", params={"name": name}, content=body.encode(),
                headers={"Content-Type": media},
            )  # fmt: skip
            assert reply.status_code == 201, reply.text
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

    env = lake_env(s3_lake) | {"MINDLAKE_QDRANT_PATH": str(tmp_path / "qdrant")}
    persona_keys = [subject_key(u, s3_lake) for u in (erased, exported)]
    tenant = f"t{run}"
    async with get_engine().begin() as conn:  # what the catalog learns below is this test's
        await conn.execute(text("DELETE FROM catalog.assets"))
        await conn.execute(text("DELETE FROM catalog.runs"))
    names = ("ingest", "consent", "compliance", "export", "embedding", "risk", "catalog", "beat")
    with workers(env, tmp_path, *names) as logs:
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
        celery_app.send_task("embedding.sync", queue="embedding")
        await wait_until(
            lambda: scalar("SELECT count(*) > 0 FROM embedding.runs WHERE kind = 'sync'"
                           " AND status = 'done'"),
            300, logs, "the embedding sync",
        )  # fmt: skip
        await wait_until(
            lambda: scalar("SELECT count(*) = 4 FROM embedding.persona_uploads WHERE status = "
                           "'done' AND subject_key = ANY(:k)", k=persona_keys),
            300, logs, "the personas",
        )  # fmt: skip

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
            personas = orjson.loads(archive.read("embedding.personas.json"))
        assert manifest["user_id"] == exported
        assert len(events) == sent[exported]
        archived_text = orjson.dumps(events).decode()
        assert all(s in archived_text for s in exported_sentences)  # decrypted
        assert len(ledger) == 3  # one entry per purpose granted
        files = {r["upload"]["name"]: r for r in personas if "upload" in r}
        assert files["bank.csv"]["file"]["content"] == BANK_CSV
        assert files["bank.csv"]["categorized"]["records"] == 18
        profile = next(r["personas"] for r in personas if "personas" in r)
        assert profile["financial"]["traits"]["subscriptions"] == ["Netflix", "PureGym", "Spotify"]
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
        assert receipt["stores"]["embedding.vectors"]["removed"]["points"] >= len(erased_sentences)
        assert receipt["stores"]["embedding.personas"]["removed"] == {"uploads": 2, "objects": 5}
        assert lake.list(f"personas/{persona_keys[0]}/") == []
        assert len(lake.list(f"personas/{persona_keys[1]}/")) == 5  # the other user's stay

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

        # The catalog knows what the writers wrote, from their hints alone (no reconcile).
        wanted = sorted({
            "raw/events", f"raw/tenants/{tenant}/interactions",
            f"raw/quarantine/{tenant}/interactions", "processed/training-data",
            "backups/consent_records", "compliance/erasure-receipts",
        })  # fmt: skip
        await wait_until(
            lambda: scalar("SELECT count(*) = :n FROM catalog.assets WHERE status = 'present'"
                           " AND location = ANY(:l)", n=len(wanted), l=wanted),
            120, logs, "the catalog's assets",
        )  # fmt: skip
        read = training["manifest"]["source_tables"]["raw/events"]["version"]
        await wait_until(
            lambda: scalar("SELECT count(*) = 1 FROM catalog.run_datasets WHERE run_id = :r"
                           " AND direction = 'input' AND location = 'raw/events'"
                           " AND version = :v", r=uuid.UUID(training_id), v=read),
            60, logs, "the training export's lineage",
        )  # fmt: skip
        # Upstream of that version, a flush batch that wrote it. (At least one: the session's
        # other tests left flush events of their own lakes, whose raw/events has versions too.)
        await wait_until(
            lambda: scalar(
                "SELECT count(*) >= 1 FROM catalog.run_datasets d JOIN catalog.runs r"
                " USING (run_id) WHERE r.job = 'ingest.flush' AND d.direction = 'output'"
                " AND d.location = 'raw/events' AND d.version = :v", v=read,
            ),
            60, logs, "the flush run that wrote the version the export read",
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
