"""Prometheus helpers: one registry per process (multiprocess-aware) and a /metrics endpoint.

Label values are service names, reasons and outcomes: never user ids or text.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import REGISTRY, Collector

__all__ = ["Counter", "Gauge", "Histogram", "mount_metrics", "scrape_registry", "serve_metrics"]


def scrape_registry() -> CollectorRegistry:
    """With PROMETHEUS_MULTIPROC_DIR set (several workers), merge every process's samples."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def mount_metrics(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(scrape_registry()), media_type=CONTENT_TYPE_LATEST)


def serve_metrics(port: int, *extra: Collector) -> None:
    """Expose /metrics from a worker process on its own port, with `extra` collectors."""
    registry = scrape_registry()
    for collector in extra:
        registry.register(collector)
    start_http_server(port, registry=registry)
