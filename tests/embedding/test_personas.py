"""Personas over the real stack (Postgres, the lake, the local model, spaCy): uploads sealed
into stage 1, each file categorized on its own, personas built and merged; bad files fail
alone; big files wait; consent withdrawal and erasure leave nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.consent import checker
from libs.common.contracts import ConsentChanged
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.subject_rights import SubjectContext
from libs.common.subjects import subject_key
from scripts.persona_samples import (
    APRIL_SPEND,
    BANK_APRIL_CSV,
    BANK_CSV,
    BANK_PAYMENTS,
    BANK_SPEND,
    SECRETS,
    SOCIAL_JSON,
)
from services.compliance.verification.needles import needles_from
from services.compliance.verification.scan import scan
from services.embedding.config import EmbeddingSettings, get_embedding_settings
from services.embedding.personas import service, storage
from services.embedding.personas.models import UploadStatus
from services.embedding.personas.subjects import PersonasStore
from tests.embedding.lake_support import embedding_settings, set_consent
from tests.integration.services import lake_env, pointed_at

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(
    lake_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> AsyncIterator[EmbeddingSettings]:
    variables = lake_env(lake_settings) | {
        "MINDLAKE_QDRANT_PATH": str(tmp_path / "qdrant"),
        "MINDLAKE_EMBEDDING_BACKEND": "torch",
    }
    with pointed_at(monkeypatch, variables):
        yield embedding_settings(lake_settings, tmp_path / "qdrant", embedding_backend="torch")


async def user_key() -> str:
    async with session_maker()() as session:
        _, secret = await create_key(
            session, name="persona-test", scopes=[Scope.EMBEDDING_USER], services=["*"]
        )
        await session.commit()
    return secret


class Api:
    def __init__(self, secret: str) -> None:
        self.headers = {"Authorization": f"Bearer {secret}"}

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        from services.embedding.main import app

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {**self.headers, **kw.pop("headers", {})}
            return await client.request(method, path, headers=headers, **kw)

    async def upload(self, user: str, name: str, body: bytes | str, media: str) -> httpx.Response:
        data = body.encode() if isinstance(body, str) else body
        return await self.call(
            "POST", f"/v1/users/{user}/uploads", params={"name": name}, content=data,
            headers={"Content-Type": media},
        )  # fmt: skip


async def drain(settings: EmbeddingSettings, *users: str) -> dict[str, str]:
    """What the worker does: categorize the users' queued uploads, then build their personas."""
    engine, lake = get_engine(), Lake(settings)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT upload_id, subject_key FROM embedding.persona_uploads "
                    "WHERE status = 'queued' AND subject_key = ANY(:k) ORDER BY created_at"
                ),
                {"k": [subject_key(u, settings) for u in users]},
            )
        ).all()
    outcomes = {}
    for upload_id, _ in rows:
        outcomes[str(upload_id)] = await service.categorize(
            engine=engine, settings=settings, lake=lake, upload_id=upload_id
        )
    for sk in sorted({sk for _, sk in rows}):
        await service.build(engine=engine, settings=settings, lake=lake, subject_key=sk)
    return outcomes


def user(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def consenting(name: str) -> str:
    u = user(name)
    await set_consent({u: True})
    return u


def stage_objects(settings: EmbeddingSettings, u: str) -> list[str]:
    prefix = storage.user_prefix(settings, subject_key(u, settings))
    return sorted(o.path[len(prefix) :] for o in Lake(settings).list(prefix))


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_bank_and_social_exports_become_personas_offline(env: EmbeddingSettings) -> None:
    api, u = Api(await user_key()), await consenting("ada")
    bank = await api.upload(u, "transactions.csv", BANK_CSV, "text/csv")
    social = await api.upload(u, "instagram_export.json", SOCIAL_JSON, "application/json")
    assert bank.status_code == 201, bank.text
    assert social.status_code == 201 and social.json()["status"] == "queued"
    assert bank.json()["name"] == "transactions.csv" and bank.json()["kind"] == "csv"
    # Stage 1 is sealed: the raw bytes are not in the lake in the clear.
    lake = Lake(env)
    raw = lake.read_bytes(storage.raw_path(env, subject_key(u, env), bank.json()["upload_id"]))
    assert b"NETFLIX" not in raw and b"Whitfield" not in raw

    outcomes = await drain(env, u)
    assert sorted(outcomes.values()) == ["categorized", "categorized"]
    listed = (await api.call("GET", f"/v1/users/{u}/uploads")).json()["uploads"]
    assert [x["status"] for x in listed] == ["done", "done"]
    assert [x["stage"] for x in listed] == [3, 3]
    assert listed[0]["records"] == 18 and listed[0]["categories"]["financial"] == 18

    reply = await api.call("GET", f"/v1/users/{u}/personas")
    assert reply.status_code == 200, reply.text
    personas = reply.json()["personas"]
    fin, soc = personas["financial"], personas["social"]
    assert fin["type"] == "financial" and fin["name"] == "Financial Profile"
    traits = fin["traits"]
    assert traits["subscriptions"] == ["Netflix", "PureGym", "Spotify"]  # monthly, same amount
    assert "Tesco Stores" not in traits["subscriptions"]  # monthly, but different amounts
    assert traits["topMerchants"][0] == "British Airways"
    assert traits["incomeSources"] == ["Acme Corp Payroll"]
    assert traits["financialServices"] == ["Amex"]
    assert traits["monthlySpend"] == pytest.approx(round(BANK_SPEND / 3, 2))
    assert traits["spendingHabits"] == "Low"
    assert fin["completeness"] == 100
    assert f"{BANK_PAYMENTS} payments from 2026-01 to 2026-03" in fin["dataPoints"]
    assert any(
        i.startswith("3 recurring payments (Netflix, PureGym, Spotify)") for i in fin["insights"]
    )
    assert any("GBP 51.47 a month" in i for i in fin["insights"]), fin["insights"]
    assert fin["sources"] == ["transactions.csv"]

    assert soc["traits"]["platforms"] == ["Instagram"]
    assert soc["traits"]["postCount"] == 4
    assert soc["traits"]["connections"] == 340
    assert soc["traits"]["mostActiveTime"] == "evening"  # three of four posts after 19:00
    assert "running" in soc["traits"]["interests"]
    assert "Posts mostly in the evening (3 of 4 posts)" in soc["insights"]
    assert soc["sources"] == ["instagram_export.json"]

    # Nothing the scrubber removes reaches stage 2 or 3 (the keys open them for this check).
    key = await service.user_key(get_engine(), env, subject_key(u, env), create=False)
    assert key is not None
    sk = subject_key(u, env)
    opened = [
        orjson.dumps(
            storage.read_json(lake, storage.categorized_path(env, sk, x["upload_id"]), key)
        )
        for x in listed
    ] + [orjson.dumps(personas)]
    for blob in opened:
        for secret in SECRETS:
            assert secret.encode() not in blob, secret
    # Each categorized record says why.
    doc = storage.read_json(lake, storage.categorized_path(env, sk, listed[0]["upload_id"]), key)
    netflix = next(i for i in doc["items"] if i["entities"].get("merchant") == "Netflix")
    assert set(netflix["categories"]) == {"financial", "entertainment"}
    assert "amount" in netflix["why"]["financial"] and "service" in netflix["why"]["entertainment"]


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_a_second_upload_updates_and_never_duplicates(env: EmbeddingSettings) -> None:
    api, u = Api(await user_key()), await consenting("bo")
    await api.upload(u, "transactions.csv", BANK_CSV, "text/csv")
    await drain(env, u)
    first = (await api.call("GET", f"/v1/users/{u}/personas")).json()["personas"]["financial"]
    await api.upload(u, "april.csv", BANK_APRIL_CSV, "text/csv")
    await drain(env, u)
    after = (await api.call("GET", f"/v1/users/{u}/personas")).json()["personas"]
    fin = after["financial"]
    assert fin["sources"] == ["transactions.csv", "april.csv"]
    # March's two repeated rows are counted once: 15 + 4 payments over four months.
    assert f"{BANK_PAYMENTS + 4} payments from 2026-01 to 2026-04" in fin["dataPoints"]
    assert fin["traits"]["monthlySpend"] == pytest.approx(round((BANK_SPEND + APRIL_SPEND) / 4, 2))
    assert fin["lastUpdated"] > first["lastUpdated"]
    assert list(after).count("financial") == 1


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_bad_files_fail_alone_with_their_reason(env: EmbeddingSettings) -> None:
    api, u = Api(await user_key()), await consenting("cy")
    await api.upload(u, "broken.csv", b"\xff\xfe\x00\x01garbage", "text/csv")
    await api.upload(u, "empty.json", b"", "application/json")
    await api.upload(u, "cut.json", b'{"posts": [{"caption": "half', "application/json")
    await api.upload(u, "transactions.csv", BANK_CSV, "text/csv")
    outcomes = await drain(env, u)
    assert sorted(outcomes.values()) == ["categorized", "failed", "failed", "failed"]
    listed = {
        x["name"]: x for x in (await api.call("GET", f"/v1/users/{u}/uploads")).json()["uploads"]
    }
    assert listed["broken.csv"]["reason"] == "not UTF-8 text (byte 0)"
    assert listed["empty.json"]["reason"] == "the file is empty"
    assert listed["cut.json"]["reason"].startswith("not parseable as JSON")
    assert listed["transactions.csv"]["status"] == "done"
    personas = (await api.call("GET", f"/v1/users/{u}/personas")).json()["personas"]
    assert personas["financial"]["sources"] == ["transactions.csv"]


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_a_redelivered_task_does_nothing_twice(env: EmbeddingSettings) -> None:
    api, u = Api(await user_key()), await consenting("di")
    upload_id = (await api.upload(u, "t.csv", BANK_CSV, "text/csv")).json()["upload_id"]
    engine, lake = get_engine(), Lake(env)
    first = await service.categorize(
        engine=engine, settings=env, lake=lake, upload_id=uuid.UUID(upload_id)
    )
    again = await service.categorize(
        engine=engine, settings=env, lake=lake, upload_id=uuid.UUID(upload_id)
    )
    assert (first, again) == ("categorized", "skipped")


@pytest.mark.parametrize("lake_settings", ["local", "s3"], indirect=True)
async def test_a_file_over_10_mb_waits_for_a_request(env: EmbeddingSettings) -> None:
    assert get_embedding_settings().embedding_persona_auto_max_bytes == 10 << 20
    api, u = Api(await user_key()), await consenting("ed")
    line = ("Evening walk by the canal, then yoga and I slept early. " * 18_000)[:1_000_000]
    big = "\n".join([line] * 11).encode()  # 11 MB, eleven long lines
    reply = await api.upload(u, "notes.txt", big, "text/plain")
    assert reply.status_code == 201 and reply.json()["status"] == UploadStatus.WAITING
    assert reply.json()["size_bytes"] == len(big)
    assert await drain(env, u) == {}  # not processed automatically
    upload_id = reply.json()["upload_id"]
    asked = await api.call("POST", f"/v1/users/{u}/uploads/{upload_id}/process")
    assert asked.status_code == 202 and asked.json()["status"] == "queued"
    again = await api.call("POST", f"/v1/users/{u}/uploads/{upload_id}/process")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert await drain(env, u) == {upload_id: "categorized"}
    listed = (await api.call("GET", f"/v1/users/{u}/uploads")).json()["uploads"]
    assert listed[0]["records"] == 11 and listed[0]["status"] == "done"
    personas = (await api.call("GET", f"/v1/users/{u}/personas")).json()["personas"]
    assert {"walking", "yoga", "sleep"} <= set(personas["health_wellbeing"]["traits"]["activities"])


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_bad_requests_are_clear(env: EmbeddingSettings) -> None:
    api, u = Api(await user_key()), await consenting("fa")
    other = user("not-consenting")
    refused = await api.upload(other, "t.csv", BANK_CSV, "text/csv")
    assert refused.status_code == 403 and "personalization" in refused.json()["detail"]
    assert stage_objects(env, other) == []
    nul = await api.call(
        "POST", f"/v1/users/{u}/uploads", params={"name": "a\x00.csv"}, content=b"x"
    )
    assert nul.status_code == 422
    unknown = await api.call("POST", f"/v1/users/{u}/uploads/{uuid.uuid4()}/process")
    assert unknown.status_code == 404
    mine = (await api.upload(u, "t.csv", BANK_CSV, "text/csv")).json()["upload_id"]
    stranger = await consenting("gu")
    assert (
        await api.call("POST", f"/v1/users/{stranger}/uploads/{mine}/process")
    ).status_code == 404
    anonymous = httpx.ASGITransport(app=__import__("services.embedding.main").embedding.main.app)
    async with httpx.AsyncClient(transport=anonymous, base_url="http://t") as client:
        assert (await client.get(f"/v1/users/{u}/personas")).status_code == 401


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_an_upload_over_the_limit_leaves_nothing(
    env: EmbeddingSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_embedding_settings(), "embedding_persona_max_bytes", 1000)
    api, u = Api(await user_key()), await consenting("ha")
    reply = await api.upload(u, "t.csv", BANK_CSV * 3, "text/csv")
    assert reply.status_code == 413
    assert reply.json()["errors"][0]["field"] == "body"
    assert stage_objects(env, u) == []
    assert (await api.call("GET", f"/v1/users/{u}/uploads")).json()["uploads"] == []


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_withdrawal_stops_processing_and_deletes_personas(env: EmbeddingSettings) -> None:
    from services.embedding.sync.consent_tasks import consent_changed

    api, u = Api(await user_key()), await consenting("io")
    await api.upload(u, "transactions.csv", BANK_CSV, "text/csv")
    await drain(env, u)
    await api.upload(u, "instagram.json", SOCIAL_JSON, "application/json")  # still queued
    assert stage_objects(env, u)[-1] == storage.PERSONAS_FILE
    await set_consent({u: False})
    await checker.invalidate(u)  # what the consent service does after the change commits
    event = ConsentChanged(
        user_id=u, purposes=["personalization"], granted=[], at=datetime.now(UTC)
    )
    counts = await asyncio.to_thread(consent_changed, **event.model_dump(mode="json"))
    assert counts["uploads_stopped"] == 2
    assert stage_objects(env, u) == []  # all three stages: raw, categorized, personas
    assert await drain(env, u) == {}  # the queued upload is not processed any more
    assert (await api.call("GET", f"/v1/users/{u}/personas")).status_code == 403
    assert (await api.upload(u, "more.csv", BANK_CSV, "text/csv")).status_code == 403
    async with get_engine().connect() as conn:
        statuses = (await conn.scalars(
            text("SELECT status FROM embedding.persona_uploads WHERE subject_key = :k"),
            {"k": subject_key(u, env)},
        )).all()  # fmt: skip
    assert statuses == ["stopped", "stopped"]


@pytest.mark.parametrize("lake_settings", ["local"], indirect=True)
async def test_export_holds_every_stage_and_erasure_leaves_no_trace(
    env: EmbeddingSettings,
) -> None:
    api, u, other = Api(await user_key()), await consenting("ana"), await consenting("bo")
    for who in (u, other):
        await api.upload(who, "transactions.csv", BANK_CSV, "text/csv")
        await api.upload(who, "instagram.json", SOCIAL_JSON, "application/json")
    await api.upload(u, "broken.json", b"{not json", "application/json")
    await drain(env, u, other)
    sk, lake, engine = subject_key(u, env), Lake(env), get_engine()
    key = await service.user_key(engine, env, sk, create=False)
    ctx = SubjectContext(
        request_id=uuid.uuid4(), kind="export", user_id=u, subject_key=sk, data_key=key,
        settings=env, lake=lake, engine=engine,
    )  # fmt: skip
    collected = await PersonasStore().collect(ctx)
    # Portability: the files as uploaded, their categorized records, the personas.
    uploads = [r for r in collected.records if "upload" in r]
    assert sorted(r["upload"]["name"] for r in uploads) == [
        "broken.json", "instagram.json", "transactions.csv"
    ]  # fmt: skip
    bank = next(r for r in uploads if r["upload"]["name"] == "transactions.csv")
    assert bank["file"]["content"] == BANK_CSV and bank["categorized"]["records"] == 18
    broken = next(r for r in uploads if r["upload"]["name"] == "broken.json")
    assert broken["file"]["content"] == "{not json" and "categorized" not in broken
    personas = next(r["personas"] for r in collected.records if "personas" in r)
    assert set(personas) >= {"financial", "social"}

    # The scan finds the sealed stages by their folder before the erasure, and nothing after.
    needles = needles_from([collected], subject_key=sk, user_id=u)
    keys = {sk: key} if key else {}
    before = await scan(needles, lake=lake, engine=None, redis=None, keys=keys, search_qdrant=False)
    assert (
        len(before.traces) == len(stage_objects(env, u)) == 3 + 2 + 1
    )  # raw, categorized, personas
    removed = await PersonasStore().erase(replace(ctx, kind="erasure", data_key=None))
    assert removed == {"uploads": 3, "objects": 6}
    after = await scan(needles, lake=lake, engine=None, redis=None, keys={}, search_qdrant=False)
    assert after.traces == [] and after.objects > 0
    assert stage_objects(env, u) == []
    assert (await PersonasStore().collect(replace(ctx, data_key=None))).records == []
    # The other user is untouched.
    assert len(stage_objects(env, other)) == 2 + 2 + 1
    assert (await api.call("GET", f"/v1/users/{other}/personas")).json()["personas"]["financial"]
