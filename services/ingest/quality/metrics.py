"""Data-quality gauges per source and data type (closed sets: source services, data types)."""

from __future__ import annotations

from libs.common.metrics import Gauge

LABELS = ["source", "data_type"]
FRESHNESS = Gauge(
    "mindlake_dq_freshness_hours",
    "Hours since data last arrived",
    LABELS,
    multiprocess_mode="mostrecent",
)
COMPLETENESS = Gauge(
    "mindlake_dq_completeness_percent",
    "Declared fields filled, %",
    LABELS,
    multiprocess_mode="mostrecent",
)
VALIDITY = Gauge(
    "mindlake_dq_validity_percent",
    "Entries passing validation, %",
    LABELS,
    multiprocess_mode="mostrecent",
)
UNIQUENESS = Gauge(
    "mindlake_dq_uniqueness_percent",
    "Entries that were not duplicates, %",
    LABELS,
    multiprocess_mode="mostrecent",
)
