"""Erasure and portability metrics: labels are request kinds only."""

from __future__ import annotations

from libs.common.metrics import Gauge, Histogram

OPEN_REQUESTS = Gauge(
    "mindlake_subject_requests_open",
    "Erasure or export requests not finished",
    ["kind"],
    multiprocess_mode="mostrecent",
)
OVERDUE_REQUESTS = Gauge(
    "mindlake_subject_requests_overdue",
    "Open requests past their deadline",
    ["kind"],
    multiprocess_mode="mostrecent",
)
FAILED_STEPS = Gauge(
    "mindlake_subject_steps_failed",
    "Store steps of open requests whose last attempt failed (retried with backoff)",
    multiprocess_mode="mostrecent",
)
ERASURE_SECONDS = Histogram(
    "mindlake_erasure_seconds",
    "Time from an erasure request to its verified receipt",
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 24 * 3600),
)
