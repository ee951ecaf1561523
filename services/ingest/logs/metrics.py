"""Log entry metrics. Labels are source-service names (a closed set), never user data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from libs.common.metrics import Counter
from services.ingest.logs.schemas import SERVICES, Rejection

ENTRIES = Counter(
    "mindlake_ingest_entries_total",
    "Log entries by outcome and source service",
    ["service", "outcome"],
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
