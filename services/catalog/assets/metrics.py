"""The asset catalog's Prometheus metrics (no asset names or paths in labels: owners only)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ASSETS_REGISTERED = Counter(
    "mindlake_catalog_assets_registered_total",
    "Asset inspections recorded in the catalog, by owning service",
    ["owner"],
)
RECONCILE_SECONDS = Histogram(
    "mindlake_catalog_reconcile_seconds",
    "Duration of a catalog reconcile (every asset in the lake)",
    buckets=(1, 5, 15, 60, 300, 900, 3600),
)
