"""Flush metrics: what lands in the raw zone, how fast, and what is refused or protected."""

from __future__ import annotations

from libs.common.metrics import Counter, Histogram

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

ROWS_REFUSED_ERASED = Counter(
    "mindlake_ingest_rows_refused_erased_total",
    "Rows not landed because their user was erased (a consent tombstone, no data key)",
)

PII_FINDINGS = Counter(
    "mindlake_ingest_pii_findings_total", "PII found and anonymized in free text", ["entity"]
)
