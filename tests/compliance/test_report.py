"""The compliance report: its content matches seeded consent, erasure requests, retention
runs and audited accesses; stored in the lake; served (and computed when missing) by the API;
the gauges follow the daily job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from libs.common.audit import AuditPurpose, audit
from libs.common.db import get_engine
from libs.common.lake import Lake
from services.compliance.config import ComplianceSettings, get_compliance_settings
from services.compliance.report import service as report
from tests.compliance.helpers import emit_and_chain, entry

DAY = date(2020, 3, 10)  # a day no other test writes to
START = datetime(2020, 3, 10, tzinfo=UTC)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


@pytest.fixture
def lake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lake]:
    """The API's settings point at a fresh local lake."""
    monkeypatch.setenv("MINDLAKE_LAKE_ROOT", f"file://{tmp_path / 'lake'}")
    get_compliance_settings.cache_clear()
    yield Lake(get_compliance_settings())
    get_compliance_settings.cache_clear()


async def sql(statement: str, params: list[dict[str, Any]] | dict[str, Any]) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text(statement), params)


async def seed_consent(tag: str) -> None:
    """4 new users: ai_training granted by 2, withdrawn by 1; analytics granted by all 4."""
    rows = []
    for i in range(4):
        user = f"report-{tag}-{i}"
        rows.append((user, "analytics", True))
        if i < 2:
            rows.append((user, "ai_training", True))
        elif i == 2:
            rows.append((user, "ai_training", False))
    await sql(
        "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis, policy_version,"
        " source, actor_key_id, recorded_at)"
        " VALUES (:u, :p, :g, 'consent', 'v1', 'app', 'test', now())",
        [{"u": u, "p": p, "g": g} for u, p, g in rows],
    )


async def seed_erasures() -> None:
    """On DAY: two done (5 min, 60 min), one open, one with a failed step, one completed the
    next day (open at the day's end); one from the day before, overdue and still open."""
    requests = [
        ("done-5m", at(10), at(10 + 5 / 60), None),
        ("done-1h", at(11), at(12), None),
        ("open", at(13), None, None),
        ("failing", at(14), None, "failed"),
        ("late", at(23), at(25), None),
        ("overdue", at(-20), None, None),
    ]
    ids = {name: uuid.uuid4() for name, *_ in requests}
    await sql(
        "INSERT INTO common.subject_requests (id, kind, subject_key, status, requested_by,"
        " created_at, deadline, completed_at, verify_attempts)"
        " VALUES (:id, 'erasure', :k, :s, 'test', :c, :d, :done, 0)",
        [
            {
                "id": ids[name],
                "k": uuid.uuid4().hex,
                "s": "done" if done is not None else "erasing",
                "c": created,
                "d": created + timedelta(hours=24),
                "done": done,
            }
            for name, created, done, _ in requests
        ],
    )
    await sql(  # an export request is not an erasure: not counted
        "INSERT INTO common.subject_requests (id, kind, subject_key, status, requested_by,"
        " created_at, deadline, verify_attempts)"
        " VALUES (:id, 'export', 'k', 'collecting', 'test', :c, :c, 0)",
        {"id": uuid.uuid4(), "c": at(9)},
    )
    await sql(
        "INSERT INTO common.subject_request_steps (request_id, store, phase, status, attempts,"
        " error, updated_at) VALUES (:r, :s, 'erase', :st, 1, :e, now())",
        [
            {"r": ids["failing"], "s": "ingest.outbox", "st": "failed", "e": "TimeoutError"},
            {"r": ids["failing"], "s": "ingest.raw_events", "st": "done", "e": None},
            {"r": ids["done-1h"], "s": "ingest.outbox", "st": "done", "e": None},
        ],
    )


async def seed_runs() -> None:
    """Two runs on DAY (100 rows + 3 objects; a failed one with 2 objects), one the day after."""
    policies = orjson.dumps([{"zone": "logs", "data_type": "logs", "files": 3}]).decode()
    await sql(
        "INSERT INTO compliance.retention_runs (id, trigger, requested_by, status, created_at,"
        " started_at, finished_at, rows_removed, objects_removed, bytes_removed, errors, results)"
        " VALUES (:id, 'beat', 'retention', :s, :c, :c, :c, :r, :o, :b, :e, CAST(:res AS jsonb))",
        [
            {"id": uuid.uuid4(), **run}
            for run in [
                {"s": "done", "c": at(4), "r": 100, "o": 3, "b": 300, "e": 0, "res": policies},
                {"s": "failed", "c": at(16), "r": 0, "o": 2, "b": 20, "e": 1, "res": "[]"},
                {"s": "done", "c": at(28), "r": 7, "o": 7, "b": 7, "e": 0, "res": "[]"},
            ]
        ],
    )


async def seed_access() -> None:
    """Chained audit entries: 3 Research and 2 Admin on DAY, 1 Research the day after."""
    purposes = [AuditPurpose.Research] * 3 + [AuditPurpose.Admin] * 2
    await audit(*(entry(i, purpose=p, at=at(8 + i)) for i, p in enumerate(purposes)))
    await audit(entry(9, purpose=AuditPurpose.Research, at=at(30)))
    await emit_and_chain(0)


async def seed() -> str:
    tag = uuid.uuid4().hex[:8]
    window = {"start": at(-48), "end": at(48)}  # what an earlier test seeded around DAY
    await sql("DELETE FROM compliance.retention_runs WHERE created_at < :end", window)
    await sql(
        "DELETE FROM common.subject_request_steps WHERE request_id IN (SELECT id FROM"
        " common.subject_requests WHERE created_at >= :start AND created_at < :end)",
        window,
    )
    await sql(
        "DELETE FROM common.subject_requests WHERE created_at >= :start AND created_at < :end",
        window,
    )
    await seed_consent(tag)
    await seed_erasures()
    await seed_runs()
    await seed_access()
    return tag


async def test_the_report_matches_the_seeded_data(clean_audit: None) -> None:
    before = await report.build(get_engine(), DAY)
    await seed()
    body = await report.build(get_engine(), DAY)

    assert body["day"] == "2020-03-10" and body["complete"] is True
    consent, was = body["consent"], before["consent"]
    assert consent["users"] - was["users"] == 4
    granted = {
        p: v["granted"] - was["purposes"][p]["granted"] for p, v in consent["purposes"].items()
    }
    withdrawn = {
        p: v["withdrawn"] - was["purposes"][p]["withdrawn"] for p, v in consent["purposes"].items()
    }
    assert granted == {
        "ai_training": 2, "analytics": 4, "personalization": 0, "risk_assessment": 0,
        "research": 0,
    }  # fmt: skip
    assert withdrawn["ai_training"] == 1 and sum(withdrawn.values()) == 1
    for values in consent["purposes"].values():
        assert values["rate"] == round(values["granted"] / consent["users"], 6)

    assert body["erasure"] == {
        "open": 3,  # "open", "late" (completed the next day), "overdue"
        "done": 2,
        "failed": 1,
        "overdue": 1,
        "received": 5,
        "completed": 2,
        "time_to_complete_s": {"avg": 1950.0, "p50": 1950.0, "max": 3600.0},
    }

    retention = body["retention"]
    assert [r["status"] for r in retention["runs"]] == ["done", "failed"]  # of the day only
    assert (retention["rows_removed"], retention["objects_removed"]) == (100, 5)
    assert (retention["bytes_removed"], retention["errors"]) == (320, 1)
    assert retention["runs"][0]["policies"][0]["files"] == 3

    access = body["data_access"]
    assert access["total"] == 5
    assert access["by_purpose"]["Research"] == 3 and access["by_purpose"]["Admin"] == 2
    assert set(access["by_purpose"]) == {p.value for p in AuditPurpose}


async def test_the_api_serves_and_stores_the_report(
    lake_root: Lake, auditor: httpx.AsyncClient, ingest_only: httpx.AsyncClient
) -> None:
    await seed()
    path = f"analytics/compliance/{DAY.isoformat()}.json"
    assert not lake_root.exists(path)

    response = await auditor.get("/v1/compliance/report", params={"day": "2020-03-10"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["erasure"]["done"] == 2 and body["data_access"]["total"] == 5
    # A past day is stored once computed, and then served as stored.
    assert orjson.loads(lake_root.read_bytes(path)) == body
    again = await auditor.get("/v1/compliance/report", params={"day": "2020-03-10"})
    assert again.json()["generated_at"] == body["generated_at"]

    today = await auditor.get(
        "/v1/compliance/report", params={"day": datetime.now(UTC).date().isoformat()}
    )
    assert today.status_code == 200 and today.json()["complete"] is False
    assert not lake_root.exists(f"analytics/compliance/{datetime.now(UTC).date()}.json")

    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    for day in ("2020-13-01", "10-03-2020", "yesterday", tomorrow):
        bad = await auditor.get("/v1/compliance/report", params={"day": day})
        assert bad.status_code == 400, (day, bad.text)
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["field"] == "day"
    assert (await ingest_only.get("/v1/compliance/report")).status_code == 403
    assert (await auditor.get("/v1/compliance/report")).status_code == 200  # yesterday's


async def test_the_daily_job_writes_the_report_and_sets_the_gauges(
    clean_audit: None, tmp_path: Path
) -> None:
    await seed()
    settings = ComplianceSettings(lake_root=f"file://{tmp_path / 'lake'}")

    path = await report.daily(settings, DAY.isoformat())

    assert path == "analytics/compliance/2020-03-10.json"
    stored = orjson.loads(Lake(settings).read_bytes(path))
    assert stored["erasure"]["failed"] == 1

    def gauge(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert gauge("mindlake_compliance_erasure_requests", state="open") == 3
    assert gauge("mindlake_compliance_erasure_requests", state="failed") == 1
    assert gauge("mindlake_compliance_erasure_seconds", stat="max") == 3600.0
    assert gauge("mindlake_compliance_retention_removed", kind="rows") == 100
    assert gauge("mindlake_compliance_data_access", purpose="Research") == 3
    rate = stored["consent"]["purposes"]["analytics"]["rate"]
    assert gauge("mindlake_compliance_consent_rate", purpose="analytics") == rate
    # Default: yesterday's report.
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert await report.daily(settings, None) == f"analytics/compliance/{yesterday}.json"
