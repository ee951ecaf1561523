"""Monthly reports and weekly summaries under `analytics/`, over `analytics`-consenting users.

- `analytics/monthly_reports/<YYYY>/<MM>/user_engagement.csv`: one row per user, keyed by
  `subject_key` (the keyed hash of the user id: no user id leaves the raw zone).
- `analytics/monthly_reports/<YYYY>/<MM>/service_metrics.parquet`: one row per service and day.
- `analytics/weekly_summaries/<YYYY>-W<ww>.json`: totals, per service, per day (ISO weeks).

A report is recomputed from raw/events each run (consent as it is at that moment) and
replaces the previous file; the same events and consent give byte-identical files.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.catalog import asset_written
from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from services.export.analytics import aggregate, source

MONTHLY_PREFIX = "analytics/monthly_reports"
WEEKLY_PREFIX = "analytics/weekly_summaries"
log = structlog.get_logger(__name__)


def monthly_dir(year: int, month: int) -> str:
    return f"{MONTHLY_PREFIX}/{year:04d}/{month:02d}"


def weekly_path(iso_year: int, week: int) -> str:
    return f"{WEEKLY_PREFIX}/{iso_year:04d}-W{week:02d}.json"


def month_bounds(year: int, month: int) -> tuple[date, date]:
    start = date(year, month, 1)
    return start, date(year + month // 12, month % 12 + 1, 1)


def week_bounds(iso_year: int, week: int) -> tuple[date, date]:
    start = date.fromisocalendar(iso_year, week, 1)
    return start, start + timedelta(days=7)


def engagement_csv(table: pa.Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(
            [
                v.isoformat().replace("+00:00", "Z") if hasattr(v, "isoformat") else v
                for v in row.values()
            ]
        )
    return out.getvalue().encode()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


async def monthly_report(
    year: int, month: int, *, lake: Lake, engine: AsyncEngine, settings: CommonSettings
) -> dict[str, Any]:
    """Compute and store the month's engagement CSV and service metrics Parquet."""
    start, end = month_bounds(year, month)
    data = await source.load(lake, engine, settings, start, end)
    engagement = aggregate.engagement(data.events)
    metrics = aggregate.service_metrics(data.events, data.moods)
    folder = monthly_dir(year, month)
    lake.write_bytes(f"{folder}/user_engagement.csv", engagement_csv(engagement))
    lake.write_bytes(f"{folder}/service_metrics.parquet", parquet_bytes(metrics))
    asset_written(MONTHLY_PREFIX, service="export")
    result = {
        "month": f"{year:04d}-{month:02d}",
        "path": folder,
        "events": data.events.num_rows,
        "users": engagement.num_rows,
        "service_days": metrics.num_rows,
    }
    log.info("analytics_monthly_report", **result)
    return result


async def weekly_summary(
    iso_year: int, week: int, *, lake: Lake, engine: AsyncEngine, settings: CommonSettings
) -> dict[str, Any]:
    """Compute and store the ISO week's summary JSON."""
    start, end = week_bounds(iso_year, week)
    data = await source.load(lake, engine, settings, start, end)
    report = {
        "week": f"{iso_year:04d}-W{week:02d}",
        "start": start.isoformat(),
        "end": end.isoformat(),  # exclusive
        "consent_purpose": "analytics",
        **aggregate.summary(data.events, data.moods),
    }
    path = weekly_path(iso_year, week)
    lake.write_bytes(path, orjson.dumps(report, option=orjson.OPT_INDENT_2))
    asset_written(WEEKLY_PREFIX, service="export")
    log.info("analytics_weekly_summary", week=report["week"], events=report["events"])
    return {"week": report["week"], "path": path, "events": report["events"]}


def previous_month(today: date) -> tuple[int, int]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.year, last.month


def previous_week(today: date) -> tuple[int, int]:
    iso = (today - timedelta(days=7)).isocalendar()
    return iso.year, iso.week
