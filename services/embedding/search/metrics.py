"""Search metrics: latency by scope (no user labels)."""

from __future__ import annotations

from prometheus_client import Histogram

SEARCH_SECONDS = Histogram(
    "mindlake_embedding_search_seconds", "POST /v1/search latency", ["scope"]
)
