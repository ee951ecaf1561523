"""Transformations' Prometheus metrics (types and outcomes only: no asset or user in labels)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TRANSFORMATIONS = Counter(
    "mindlake_catalog_transformations_total",
    "applyTransformation calls, by type and outcome (created, refused, failed)",
    ["type", "outcome"],
)
TRANSFORM_SECONDS = Histogram(
    "mindlake_catalog_transform_seconds",
    "Duration of a transformation that made a derived asset",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300),
)
