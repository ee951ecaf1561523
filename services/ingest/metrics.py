"""Ingest metrics. Labels are source-service names (a closed set) and reasons, never user data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from libs.common.metrics import Counter, Gauge, Histogram
from services.ingest.schemas import SERVICES, Rejection

ENTRIES = Counter(
    "mindlake_ingest_entries_total",
    "Log entries by outcome and source service",
    ["service", "outcome"],
)
OUTBOX_DEPTH = Gauge(
    "mindlake_ingest_outbox_depth",
    "Outbox rows not yet in the lake",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "mindlake_ingest_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet in the lake",
    multiprocess_mode="mostrecent",
)
FLUSH_SECONDS = Histogram(
    "mindlake_ingest_flush_seconds",
    "Time to land one flush batch in the lake",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
FLUSH_LAG_SECONDS = Histogram(
    "mindlake_ingest_flush_lag_seconds",
    "From acknowledgement to landing, per batch (oldest row)",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
ROWS_LANDED = Counter(
    "mindlake_ingest_rows_landed_total", "Rows landed in the raw zone", ["service"]
)
BYTES_LANDED = Counter("mindlake_ingest_bytes_landed_total", "Parquet bytes landed in the raw zone")
DEAD_LETTERS = Counter(
    "mindlake_ingest_dead_letters_total",
    "Rejected entries kept in the dead-letter store, by source path and reason kind",
    ["source", "reason_kind"],  # closed sets: see services/ingest/deadletter.py
)
DEAD_LETTER_FAILURES = Counter(
    "mindlake_ingest_dead_letter_failures_total",
    "Rejected entries the dead-letter store failed to keep (the reply still went out)",
    ["source"],
)
DEAD_LETTERS_REFUSED_ERASED = Counter(
    "mindlake_ingest_dead_letters_refused_erased_total",
    "Rejected entries not kept because their user was erased (a consent tombstone)",
    ["source"],
)
DEAD_LETTERS_OPEN = Gauge(
    "mindlake_ingest_dead_letters_open",
    "Dead letters neither replayed nor discarded",
    multiprocess_mode="mostrecent",
)
ROWS_REFUSED_ERASED = Counter(
    "mindlake_ingest_rows_refused_erased_total",
    "Rows not landed because their user was erased (a consent tombstone, no data key)",
)
PII_FINDINGS = Counter(
    "mindlake_ingest_pii_findings_total", "PII found and anonymized in free text", ["entity"]
)


def _service_label(value: Any) -> str:
    return value if isinstance(value, str) and value in SERVICES else "unknown"


def count_outcomes(accepted: Mapping[str, int], duplicate: Mapping[str, int]) -> None:
    for service, n in accepted.items():
        ENTRIES.labels(_service_label(service), "accepted").inc(n)
    for service, n in duplicate.items():
        ENTRIES.labels(_service_label(service), "duplicate").inc(n)


def count_rejections(entries: list[Any], rejections: Iterable[Rejection]) -> None:
    for r in rejections:
        item = entries[r.index] if r.index < len(entries) else None
        service = item.get("service") if isinstance(item, dict) else None
        ENTRIES.labels(_service_label(service), "rejected").inc()
