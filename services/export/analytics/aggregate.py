"""The aggregations behind the reports, over `source.Events`; every output sorted, so the
same events give byte-identical files."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ENGAGEMENT_SCHEMA = pa.schema(
    [
        pa.field("subject_key", pa.string()),
        pa.field("events", pa.int64()),
        pa.field("active_days", pa.int64()),
        pa.field("services_used", pa.int64()),
        pa.field("first_event_at", pa.timestamp("us", tz="UTC")),
        pa.field("last_event_at", pa.timestamp("us", tz="UTC")),
    ]
)
SERVICE_METRICS_SCHEMA = pa.schema(
    [
        pa.field("service", pa.string()),
        pa.field("event_date", pa.date32()),
        pa.field("events", pa.int64()),
        pa.field("active_users", pa.int64()),
        pa.field("events_per_user", pa.float64()),
        pa.field("event_types", pa.int64()),
        pa.field("mood_entries", pa.int64()),  # mood-service only, else null
        pa.field("avg_mood_score", pa.float64()),  # mood-service only, else null
    ]
)


def engagement(events: pa.Table) -> pa.Table:
    """One row per user (by subject_key): how much and how widely they used the platform."""
    grouped = events.group_by("subject_key").aggregate(
        [
            ("event_time", "count"),
            ("event_date", "count_distinct"),
            ("service", "count_distinct"),
            ("event_time", "min"),
            ("event_time", "max"),
        ]
    )
    table = pa.table(
        [
            grouped.column("subject_key"),
            grouped.column("event_time_count"),
            grouped.column("event_date_count_distinct"),
            grouped.column("service_count_distinct"),
            grouped.column("event_time_min"),
            grouped.column("event_time_max"),
        ],
        schema=ENGAGEMENT_SCHEMA,
    )
    return table.sort_by("subject_key")


def service_metrics(events: pa.Table, moods: pa.Table) -> pa.Table:
    """One row per service and day."""
    daily = events.group_by(["service", "event_date"]).aggregate(
        [
            ("event_time", "count"),
            ("subject_key", "count_distinct"),
            ("event_type", "count_distinct"),
        ]
    )
    mood = {
        day: (count, mean)
        for day, count, mean in zip(
            *moods.group_by("event_date")
            .aggregate([("score", "count"), ("score", "mean")])
            .select(["event_date", "score_count", "score_mean"])
            .to_pydict()
            .values(),
            strict=True,
        )
    }
    is_mood = pc.equal(daily.column("service"), "mood-service").to_pylist()
    days = daily.column("event_date").to_pylist()
    entries = [mood.get(d, (0, None))[0] if m else None for d, m in zip(days, is_mood, strict=True)]
    means = [
        _round(mood.get(d, (0, None))[1]) if m else None for d, m in zip(days, is_mood, strict=True)
    ]
    events_n = daily.column("event_time_count")
    users_n = daily.column("subject_key_count_distinct")
    table = pa.table(
        [
            daily.column("service"),
            daily.column("event_date"),
            events_n,
            users_n,
            pc.round(pc.divide(pc.cast(events_n, pa.float64()), users_n), 6),
            daily.column("event_type_count_distinct"),
            pa.array(entries, pa.int64()),
            pa.array(means, pa.float64()),
        ],
        schema=SERVICE_METRICS_SCHEMA,
    )
    return table.sort_by([("service", "ascending"), ("event_date", "ascending")])


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def summary(events: pa.Table, moods: pa.Table) -> dict[str, Any]:
    """Totals, per service and per day (the weekly summary's body)."""
    by_service = (
        events.group_by("service")
        .aggregate([("event_time", "count"), ("subject_key", "count_distinct")])
        .sort_by("service")
        .to_pylist()
    )
    by_day = (
        events.group_by("event_date")
        .aggregate([("event_time", "count"), ("subject_key", "count_distinct")])
        .sort_by("event_date")
        .to_pylist()
    )
    scores = moods.column("score")
    return {
        "events": events.num_rows,
        "active_users": len(pc.unique(events.column("subject_key"))),
        "services": {
            r["service"]: {
                "events": r["event_time_count"],
                "active_users": r["subject_key_count_distinct"],
            }
            for r in by_service
        },
        "days": {
            r["event_date"].isoformat(): {
                "events": r["event_time_count"],
                "active_users": r["subject_key_count_distinct"],
            }
            for r in by_day
        },
        "mood": {
            "entries": len(scores),
            "avg_score": _round(pc.mean(scores).as_py()) if len(scores) else None,
        },
    }
