"""The daily compliance report: consent, erasure, retention and data access, as one JSON.

Beat writes yesterday's report to `analytics/compliance/<day>.json` and sets the matching
gauges; `GET /v1/compliance/report?day=` serves the stored report, or computes it when it is
missing (and stores it once the day is over). Counts and rates only: no user id, label or
text. Consent is the state when the report is made (consent.current keeps no history);
erasure counts are the state at the end of the day.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.audit import AuditPurpose
from libs.common.catalog import asset_written
from libs.common.consent import consent_counts
from libs.common.contracts import ConsentPurpose
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.metrics import Gauge
from services.compliance.config import ComplianceSettings
from services.compliance.report import repository
from services.compliance.retention import repository as retention_repository

CONSENT_RATE = Gauge(
    "mindlake_compliance_consent_rate",
    "Share of users with a consent record who grant the purpose (latest daily report)",
    ["purpose"],
    multiprocess_mode="mostrecent",
)
ERASURE_REQUESTS = Gauge(
    "mindlake_compliance_erasure_requests",
    "Erasure requests by state at the end of the latest reported day",
    ["state"],
    multiprocess_mode="mostrecent",
)
ERASURE_SECONDS = Gauge(
    "mindlake_compliance_erasure_seconds",
    "Time to complete the erasures completed on the latest reported day",
    ["stat"],
    multiprocess_mode="mostrecent",
)
RETENTION_REMOVED = Gauge(
    "mindlake_compliance_retention_removed",
    "What retention removed on the latest reported day",
    ["kind"],
    multiprocess_mode="mostrecent",
)
DATA_ACCESS = Gauge(
    "mindlake_compliance_data_access",
    "Audited data accesses on the latest reported day, by purpose",
    ["purpose"],
    multiprocess_mode="mostrecent",
)


def report_path(prefix: str, day: date) -> str:
    return f"{prefix.strip('/')}/{day.isoformat()}.json"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


async def build(engine: AsyncEngine, day: date, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    start, end = _bounds(day)
    async with engine.connect() as conn:
        users, consent = await consent_counts(conn)
        erasure = await repository.erasures(conn, start, end)
        access = await repository.access_by_purpose(conn, start, end)
        runs = await retention_repository.runs(conn, limit=10_000, since=start, until=end)
    purposes = [p.value for p in ConsentPurpose] + sorted(set(consent) - set(ConsentPurpose))
    access_purposes = [p.value for p in AuditPurpose] + sorted(set(access) - set(AuditPurpose))
    return {
        "day": day.isoformat(),
        "generated_at": now.isoformat(),
        "complete": now >= end,  # false: the day is not over, counts will still grow
        "consent": {
            "as_of": now.isoformat(),
            "users": users,
            "purposes": {
                p: {
                    "granted": consent.get(p, (0, 0))[0],
                    "withdrawn": consent.get(p, (0, 0))[1],
                    "rate": round(consent.get(p, (0, 0))[0] / users, 6) if users else 0.0,
                }
                for p in purposes
            },
        },
        "erasure": {
            "open": int(erasure["open"]),
            "done": int(erasure["done"]),
            "failed": int(erasure["failed"]),  # failing now and being retried
            "overdue": int(erasure["overdue"]),
            "received": int(erasure["received"]),  # on the day
            "completed": int(erasure["completed"]),  # on the day
            "time_to_complete_s": {
                "avg": _seconds(erasure["avg_s"]),
                "p50": _seconds(erasure["p50_s"]),
                "max": _seconds(erasure["max_s"]),
            },
        },
        "retention": {
            "runs": [
                {
                    "id": str(run.id),
                    "trigger": run.trigger,
                    "status": run.status,
                    "started_at": None if run.started_at is None else run.started_at.isoformat(),
                    "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
                    "rows_removed": run.rows_removed,
                    "objects_removed": run.objects_removed,
                    "bytes_removed": run.bytes_removed,
                    "errors": run.errors,
                    "policies": [
                        {k: v for k, v in r.items() if k not in ("partitions", "skipped_tables")}
                        for r in run.results
                    ],
                }
                for run in reversed(runs)  # oldest first
            ],
            "rows_removed": sum(run.rows_removed for run in runs),
            "objects_removed": sum(run.objects_removed for run in runs),
            "bytes_removed": sum(run.bytes_removed for run in runs),
            "errors": sum(run.errors for run in runs),
        },
        "data_access": {
            "total": sum(access.values()),
            "by_purpose": {p: access.get(p, 0) for p in access_purposes},
        },
    }


def store(lake: Lake, prefix: str, report: dict[str, Any]) -> str:
    path = report_path(prefix, date.fromisoformat(report["day"]))
    lake.write_bytes(path, orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return path


async def load_or_build(
    engine: AsyncEngine, lake: Lake, prefix: str, day: date, *, now: datetime | None = None
) -> dict[str, Any]:
    """The stored report of `day`; else computed now, and stored if the day is over."""
    path = report_path(prefix, day)
    if await asyncio.to_thread(lake.exists, path):  # lake I/O blocks: off the event loop
        stored: dict[str, Any] = orjson.loads(await asyncio.to_thread(lake.read_bytes, path))
        return stored
    report = await build(engine, day, now=now)
    if report["complete"]:
        await asyncio.to_thread(store, lake, prefix, report)
        await asyncio.to_thread(asset_written, prefix, service="compliance")  # off the loop
    return report


def set_gauges(report: dict[str, Any]) -> None:
    for purpose, values in report["consent"]["purposes"].items():
        CONSENT_RATE.labels(purpose=purpose).set(values["rate"])
    erasure = report["erasure"]
    for state in ("open", "done", "failed", "overdue"):
        ERASURE_REQUESTS.labels(state=state).set(erasure[state])
    for stat, value in erasure["time_to_complete_s"].items():
        ERASURE_SECONDS.labels(stat=stat).set(value or 0.0)
    retention = report["retention"]
    for kind in ("rows", "objects", "bytes"):
        RETENTION_REMOVED.labels(kind=kind).set(retention[f"{kind}_removed"])
    for purpose, count in report["data_access"]["by_purpose"].items():
        DATA_ACCESS.labels(purpose=purpose).set(count)


def yesterday(today: date | None = None) -> date:
    """The day before `today` (default: today, UTC): the day a report covers by default."""
    return (today if today is not None else datetime.now(UTC).date()) - timedelta(days=1)


async def daily(settings: ComplianceSettings, day: str | None) -> str:
    """Body of the `compliance.report` task: the report of `day` (default: yesterday, UTC),
    rebuilt and stored, and the gauges set from it."""
    when = date.fromisoformat(day) if day else yesterday()
    engine = one_shot_engine(settings.database_url)
    try:
        report = await build(engine, when)
    finally:
        await engine.dispose()
    lake = Lake(settings)
    path = await asyncio.to_thread(store, lake, settings.compliance_report_prefix, report)
    asset_written(settings.compliance_report_prefix, service="compliance")
    set_gauges(report)
    return path
