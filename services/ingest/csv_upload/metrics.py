"""CSV upload metrics. Labels are data types, outcomes and rule names: closed sets (never a
tenant, which is unbounded)."""

from __future__ import annotations

from libs.common.metrics import Counter, Histogram

ROWS = Counter(
    "mindlake_ingest_csv_rows_total",
    "CSV rows by data type and outcome (landed, updated, already_landed, rejected)",
    ["data_type", "outcome"],
)
RULE_FAILURES = Counter(
    "mindlake_ingest_csv_rule_failures_total",
    "CSV rows failing a validation rule",
    ["data_type", "rule"],
)
UPLOAD_SECONDS = Histogram(
    "mindlake_ingest_csv_upload_seconds",
    "Time to validate and land one CSV upload (after spooling)",
    ["data_type"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
