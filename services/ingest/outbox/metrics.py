"""Outbox metrics: how much is waiting for the lake, and for how long."""

from __future__ import annotations

from libs.common.metrics import Gauge

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
