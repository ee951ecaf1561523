"""The lineage's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter

RUN_EVENTS = Counter(
    "mindlake_catalog_run_events_total", "Run events recorded, by state", ["state"]
)
OPENLINEAGE_EVENTS = Counter(
    "mindlake_catalog_openlineage_events_total",
    "Run events forwarded to the OpenLineage consumer, by outcome (sent, failed)",
    ["outcome"],
)
