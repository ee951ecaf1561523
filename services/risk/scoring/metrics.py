"""Prometheus metrics of the daily assessment. Labels are levels and outcomes, never users."""

from __future__ import annotations

from libs.common.metrics import Counter, Gauge

ASSESSMENTS = Counter("mindlake_risk_assessments_total", "Assessments written, by level", ["level"])
LOW_COVERAGE = Counter(
    "mindlake_risk_low_coverage_total", "Assessments marked low-coverage (little data)"
)
RUNS = Counter("mindlake_risk_runs_total", "Risk jobs run, by job and outcome", ["job", "outcome"])
LAST_RUN = Gauge(
    "mindlake_risk_last_run_timestamp_seconds", "When each risk job last succeeded", ["job"]
)
LEVEL_SHARE = Gauge(
    "mindlake_risk_level_share", "Share of the latest day's assessments at each level", ["level"]
)
