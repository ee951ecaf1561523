from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker
from services.ingest.quality import service as quality
from tests import factories


@pytest.fixture
async def auditor_key(database: str) -> str:
    async with session_maker()() as session:
        _, key = await create_key(session, name="auditor", scopes=[Scope.AUDIT_READ], services=[])
        await session.commit()
    return key


@pytest.fixture(autouse=True)
async def fresh_tallies(database: str) -> None:
    quality.recorder.tallies.clear()
    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE ingest.quality_daily"))


async def test_report_has_validity_uniqueness_completeness_and_freshness(
    client: Any, auditor_key: str
) -> None:
    dup = factories.mood(event_id="q-dup")
    entries = [factories.mood(), factories.mood(), dup, dup, factories.mood(score=99)]
    started = time.monotonic()
    reply = await client.post("/v1/logs", json={"entries": entries})
    assert reply.json()["accepted"] == 3

    report = await client.get("/v1/quality", headers={"Authorization": f"Bearer {auditor_key}"})
    assert report.status_code == 200, report.text
    (mood,) = [s for s in report.json()["sources"] if s["source"] == "mood-service"]
    assert (mood["accepted"], mood["duplicate"], mood["rejected"]) == (3, 1, 1)
    assert mood["validity_percent"] == 75.0  # 3 of 4 valid
    assert mood["uniqueness_percent"] == 75.0  # 1 duplicate of 4
    assert 0 < mood["completeness_percent"] < 100  # optional fields such as `note` left out
    # Measured from the arrival: at most the time this test has taken (figures keep 3 decimals).
    elapsed_hours = (time.monotonic() - started) / 3600
    assert 0 <= mood["freshness_hours"] <= round(elapsed_hours, 3) + 0.001

    metrics = (await client.get("/metrics")).text
    assert 'mindlake_dq_validity_percent{data_type="logs",source="mood-service"} 75.0' in metrics


async def test_tallies_add_up_across_writes(client: Any, auditor_key: str) -> None:
    await client.post("/v1/logs", json=factories.journal())
    async with get_engine().begin() as conn:
        await quality.recorder.write(conn)
    await client.post("/v1/logs", json={"entries": [factories.journal(), {"service": "nope"}]})
    report = await client.get("/v1/quality", headers={"Authorization": f"Bearer {auditor_key}"})
    by_source = {s["source"]: s for s in report.json()["sources"]}
    assert by_source["journal-service"]["accepted"] == 2
    assert by_source["unknown"]["rejected"] == 1


async def test_an_ingest_key_may_not_read_the_report(client: Any) -> None:
    assert (await client.get("/v1/quality")).status_code == 403
