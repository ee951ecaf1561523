"""Analytics reports and the admin SQL endpoint, over a real lake (local folder and S3),
real Postgres (consent, data keys, audit outbox)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from libs.common.app import service_app
from libs.common.auth import Scope, create_key
from libs.common.crypto import DataKeys
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake, get_lake
from libs.common.lake_crypto import encrypt_values
from libs.common.subjects import subject_key
from services.export.analytics import reports
from services.export.analytics.endpoints import router
from services.export.config import ExportSettings, get_export_settings
from services.ingest.flush.raw_table import SCHEMA, RawEventsTable

MONTH = (2024, 3)


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)


async def grant(users: dict[str, bool]) -> None:
    """`analytics` consent: True granted, False withdrawn (a later entry)."""
    rows = [{"u": u, "g": True} for u in users] + [
        {"u": u, "g": False} for u, g in users.items() if not g
    ]
    async with get_engine().begin() as conn:
        for row in rows:  # one by one: the ledger orders a user's entries by insertion
            await conn.execute(
                text(
                    "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis,"
                    " policy_version, source, actor_key_id, recorded_at)"
                    " VALUES (:u, 'analytics', :g, 'consent', 'v1', 'app', 'test', now())"
                ),
                row,
            )


async def land(lake: Lake, settings: Any, rows: list[tuple[str, str, datetime, str]]) -> None:
    """Rows (user, service, time, body JSON) into raw/events, bodies encrypted per user."""
    users = [r[0] for r in rows]
    subjects = [subject_key(u, settings) for u in users]
    async with get_engine().begin() as conn:
        keys = await DataKeys(settings).for_subjects(conn, subjects, create=True)
    bodies = encrypt_values([r[3] for r in rows], subjects, keys)
    table = pa.table(
        {
            "event_id": [uuid.uuid4().hex for _ in rows],
            "service": [r[1] for r in rows],
            "event_date": [r[2].date() for r in rows],
            "event_type": ["log"] * len(rows),
            "user_id": users,
            "subject_key": subjects,
            "event_time": [r[2] for r in rows],
            "received_at": [r[2] for r in rows],
            "body": bodies,
            "extras": [None] * len(rows),
            "pii_findings": [0] * len(rows),
            "flush_batch": [1] * len(rows),
        },
        schema=SCHEMA,
    )
    RawEventsTable(lake).append(table, token=uuid.uuid4().hex)


@pytest.fixture
async def seeded(lake_settings: Any) -> dict[str, Any]:
    """March 2024: two consenting users (a, b), one who withdrew (w), one who never
    consented (n); events of February 29 and April 1 around the month."""
    tag = uuid.uuid4().hex[:8]
    a, b, w, n = (f"an-{tag}-{x}" for x in "abwn")
    await grant({a: True, b: True, w: False})
    d1, d2, d3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 31)
    mood = lambda s: orjson.dumps({"score": s, "note": "a note"}).decode()  # noqa: E731
    journal = '{"text": "dear diary"}'
    rows = [
        (a, "mood-service", at(d1, 8), mood(4)),
        (a, "mood-service", at(d2, 8), mood(8)),
        (a, "journal-service", at(d2, 9), journal),
        (b, "mood-service", at(d1, 9), mood(6)),
        (b, "journal-service", at(d3, 23), journal),
        (w, "mood-service", at(d1, 10), mood(1)),
        (w, "journal-service", at(d1, 10), journal),
        (n, "mood-service", at(d1, 11), mood(1)),
        (a, "journal-service", at(date(2024, 2, 29), 12), journal),
        (b, "journal-service", at(date(2024, 4, 1), 0), journal),
    ]
    lake = Lake(lake_settings)
    await land(lake, lake_settings, rows)
    keys = {u: subject_key(u, lake_settings) for u in (a, b, w, n)}
    return {"lake": lake, "settings": lake_settings, "keys": keys, "a": a, "b": b}


async def test_monthly_report_counts_consenting_users_only(seeded: dict[str, Any]) -> None:
    lake, settings, keys = seeded["lake"], seeded["settings"], seeded["keys"]
    result = await reports.monthly_report(*MONTH, lake=lake, engine=get_engine(), settings=settings)
    assert result["events"] == 5 and result["users"] == 2

    folder = "analytics/monthly_reports/2024/03"
    engagement = list(
        csv.DictReader(io.StringIO(lake.read_bytes(f"{folder}/user_engagement.csv").decode()))
    )
    assert [r["subject_key"] for r in engagement] == sorted([keys[seeded["a"]], keys[seeded["b"]]])
    by_key = {r["subject_key"]: r for r in engagement}
    row_a = by_key[keys[seeded["a"]]]
    assert (row_a["events"], row_a["active_days"], row_a["services_used"]) == ("3", "2", "2")
    assert row_a["first_event_at"] == "2024-03-04T08:00:00Z"
    assert by_key[keys[seeded["b"]]]["last_event_at"] == "2024-03-31T23:00:00Z"
    text_csv = lake.read_bytes(f"{folder}/user_engagement.csv").decode()
    assert seeded["a"] not in text_csv and "diary" not in text_csv

    metrics = pq.read_table(pa.BufferReader(lake.read_bytes(f"{folder}/service_metrics.parquet")))
    got = {(r["service"], r["event_date"]): r for r in metrics.to_pylist()}
    assert set(got) == {
        ("journal-service", date(2024, 3, 5)),
        ("journal-service", date(2024, 3, 31)),
        ("mood-service", date(2024, 3, 4)),
        ("mood-service", date(2024, 3, 5)),
    }
    mood_day = got[("mood-service", date(2024, 3, 4))]
    # a (4) and b (6); the withdrawn and the never-consenting users' 1s are left out.
    assert (mood_day["events"], mood_day["active_users"], mood_day["avg_mood_score"]) == (2, 2, 5.0)
    assert mood_day["mood_entries"] == 2
    assert got[("journal-service", date(2024, 3, 5))]["avg_mood_score"] is None

    # Same inputs, same bytes.
    first = lake.read_bytes(f"{folder}/service_metrics.parquet"), text_csv
    await reports.monthly_report(*MONTH, lake=lake, engine=get_engine(), settings=settings)
    again = lake.read_bytes(f"{folder}/service_metrics.parquet")
    assert (again, lake.read_bytes(f"{folder}/user_engagement.csv").decode()) == first


async def test_weekly_summary(seeded: dict[str, Any]) -> None:
    lake, settings = seeded["lake"], seeded["settings"]
    result = await reports.weekly_summary(
        2024, 10, lake=lake, engine=get_engine(), settings=settings
    )
    assert result["path"] == "analytics/weekly_summaries/2024-W10.json"
    summary = orjson.loads(lake.read_bytes(result["path"]))
    assert (summary["start"], summary["end"]) == ("2024-03-04", "2024-03-11")
    assert summary["events"] == 4 and summary["active_users"] == 2
    assert summary["services"]["mood-service"] == {"events": 3, "active_users": 2}
    assert summary["mood"] == {"entries": 3, "avg_score": 6.0}
    assert set(summary["days"]) == {"2024-03-04", "2024-03-05"}


def test_previous_periods() -> None:
    assert reports.previous_month(date(2024, 1, 1)) == (2023, 12)
    assert reports.previous_week(date(2024, 1, 1)) == (2023, 52)
    assert reports.month_bounds(2024, 12) == (date(2024, 12, 1), date(2025, 1, 1))


# --- the SQL endpoint ---------------------------------------------------------------------
@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
async def admin(seeded: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = service_app("export-analytics-test", _no_lifespan)
    app.include_router(router)
    app.dependency_overrides[get_lake] = lambda: seeded["lake"]
    app.dependency_overrides[get_export_settings] = lambda: ExportSettings(
        export_sql_row_limit=2, export_sql_timeout_s=1.0
    )
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"test-{uuid.uuid4().hex[:6]}", scopes=[Scope.ADMIN], services=["*"]
        )
        await session.commit()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://export",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        yield http


async def _audited(outcome: str) -> int:
    async with get_engine().connect() as conn:
        return int(
            await conn.scalar(
                text("SELECT count(*) FROM common.audit_outbox WHERE asset LIKE :a"),
                {"a": f"export.analytics_sql %outcome:{outcome}"},
            )
            or 0
        )


async def test_sql_select_with_row_limit(admin: httpx.AsyncClient, seeded: dict[str, Any]) -> None:
    before = await _audited("ok")
    sql = (
        "WITH m AS (SELECT * FROM raw_events WHERE service = 'mood-service')"
        " SELECT subject_key, count(*) AS n FROM m"
        " GROUP BY subject_key ORDER BY n DESC, subject_key"
    )
    reply = await admin.post("/v1/analytics/sql", json={"sql": sql})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [c["name"] for c in body["columns"]] == ["subject_key", "n"]
    assert body["row_count"] == 2 and body["truncated"] is False
    keys = seeded["keys"]
    assert body["rows"][0] == [keys[seeded["a"]], 2]

    everything = await admin.post("/v1/analytics/sql", json={"sql": "SELECT * FROM raw_events"})
    page = everything.json()
    assert page["row_count"] == 2 and page["truncated"] is True  # 7 consenting rows, limit 2
    assert {c["name"] for c in page["columns"]} == {
        "service",
        "event_date",
        "event_type",
        "subject_key",
        "event_time",
    }
    assert await _audited("ok") == before + 2

    hidden = await admin.post("/v1/analytics/sql", json={"sql": "SELECT user_id FROM raw_events"})
    assert (
        hidden.status_code == 400 and hidden.headers["content-type"] == "application/problem+json"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO raw_events VALUES ('x', DATE '2024-03-01', 'log', 'k', now())",
        "ATTACH 'other.db' AS other",
        "COPY raw_events TO 'out.csv'",
        "PRAGMA database_list",
        "SELECT 1; DROP TABLE raw_events",
        "SET memory_limit = '100GB'",
    ],
)
async def test_sql_refuses_anything_but_one_select(admin: httpx.AsyncClient, sql: str) -> None:
    reply = await admin.post("/v1/analytics/sql", json={"sql": sql})
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["title"] == "Not a read-only query"


async def test_sql_errors_are_problems(admin: httpx.AsyncClient) -> None:
    syntax = await admin.post("/v1/analytics/sql", json={"sql": "SELEC 1"})
    assert syntax.status_code == 400 and syntax.json()["title"] == "Invalid SQL"
    files = await admin.post(
        "/v1/analytics/sql", json={"sql": "SELECT * FROM read_csv('/etc/passwd')"}
    )
    assert files.status_code == 400 and files.json()["title"] == "Query failed"

    before = await _audited("timeout")
    slow = (
        "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range + b.range = 7"
    )
    reply = await admin.post("/v1/analytics/sql", json={"sql": slow})
    assert reply.status_code == 408, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["title"] == "Query timeout"
    assert await _audited("timeout") == before + 1


async def test_sql_needs_the_admin_scope(seeded: dict[str, Any], admin: httpx.AsyncClient) -> None:
    reply = await admin.post(
        "/v1/analytics/sql", json={"sql": "SELECT 1"}, headers={"Authorization": "Bearer nope"}
    )
    assert reply.status_code == 401


async def test_an_erased_users_engagement_rows_are_removed(seeded: dict[str, Any]) -> None:
    from libs.common.subject_rights import SubjectContext
    from services.export.subjects.analytics import AnalyticsReportsStore

    lake, settings = seeded["lake"], seeded["settings"]
    await reports.monthly_report(*MONTH, lake=lake, engine=get_engine(), settings=settings)
    ctx = SubjectContext(
        request_id=uuid.uuid4(),
        kind="erasure",
        user_id=seeded["a"],
        subject_key=seeded["keys"][seeded["a"]],
        data_key=None,
        settings=settings,
        lake=lake,
        engine=get_engine(),
    )
    store = AnalyticsReportsStore()
    collected = await store.collect(ctx)
    assert [r["events"] for r in collected.records] == ["3"]
    assert await store.erase(ctx) == {"engagement_rows": 1, "files_rewritten": 1}
    assert await store.erase(ctx) == {"engagement_rows": 0, "files_rewritten": 0}
    left = lake.read_bytes("analytics/monthly_reports/2024/03/user_engagement.csv").decode()
    assert ctx.subject_key not in left and seeded["keys"][seeded["b"]] in left
