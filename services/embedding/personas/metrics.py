"""The personas' Prometheus metrics (no user in any label)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

FILES = Counter(
    "mindlake_persona_files_total",
    "Uploaded files by what happened to them (received, waiting, categorized, failed)",
    ["status"],
)
RECORDS = Counter(
    "mindlake_persona_records_total", "Records categorized, by category", ["category"]
)
STAGE_SECONDS = Histogram(
    "mindlake_persona_stage_seconds",
    "Time of one stage: categorize (one file) or build (one user's personas)",
    ["stage"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
LLM_REPLIES = Counter(
    "mindlake_persona_llm_replies_total",
    "Categorization replies of the LLM: accepted, rejected (by reason), or failed",
    ["outcome"],
)
