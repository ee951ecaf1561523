"""The sync's metrics: labels are collections, sources and run kinds, never users."""

from __future__ import annotations

from libs.common.metrics import Counter, Gauge, Histogram

CHUNKS = Counter(
    "mindlake_embedding_chunks_total", "Chunks embedded and upserted", ["collection", "source"]
)
RUN_SECONDS = Histogram(
    "mindlake_embedding_run_seconds",
    "Duration of embedding runs",
    ["kind"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
)
LAG_VERSIONS = Gauge(
    "mindlake_embedding_lag_versions",
    "Raw events table versions not yet embedded (oldest source watermark to the head)",
    ["collection"],
)
LAG_SECONDS = Gauge(
    "mindlake_embedding_lag_seconds",
    "Age of the oldest raw events commit not yet embedded (0: up to date)",
    ["collection"],
)
VECTORS = Gauge("mindlake_embedding_vectors", "Points per collection", ["collection"])
REMOVED = Counter(
    "mindlake_embedding_points_removed_total",
    "Points removed, by why (withdrawn, erased, stale)",
    ["collection", "reason"],
)
