"""Celery app factory: Redis broker, one queue per service, routing by task-name prefix."""

from __future__ import annotations

import contextlib
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_shutdown
from kombu.entity import Queue as KombuQueue

from libs.common.celery_health import CeleryHealthCollector, Heartbeat
from libs.common.contracts import Queue, queue_for
from libs.common.logging import configure_logging
from libs.common.metrics import serve_metrics
from libs.common.schedules import load_beat_schedule
from libs.common.settings import CommonSettings, get_settings


def route_by_prefix(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any
) -> dict[str, str]:
    return {"queue": queue_for(name)}


def create_celery(
    main: str,
    settings: CommonSettings | None = None,
    *,
    imports: tuple[str, ...] = (),
) -> Celery:
    """The app of one service's worker: `imports` names its task modules. A worker started
    from it logs JSON, beats (libs/common/celery_health.py) and serves /metrics on
    `metrics_port`, with every queue's length and every worker's state."""
    settings = settings or get_settings()
    level, metrics_port = settings.log_level, settings.metrics_port
    broker, beat_s = settings.redis_url, settings.celery_heartbeat_s
    heartbeats: list[Heartbeat] = []

    def on_worker_init(sender: Any = None, **_: Any) -> None:
        configure_logging(level)
        heartbeats.append(Heartbeat(broker, str(sender.hostname), beat_s))
        if metrics_port:
            with contextlib.suppress(OSError):  # another worker on this host serves it
                serve_metrics(metrics_port, CeleryHealthCollector(broker, [q.value for q in Queue]))

    def on_worker_shutdown(**_: Any) -> None:
        for heartbeat in heartbeats:
            heartbeat.stop()

    worker_init.connect(on_worker_init, weak=False)
    worker_shutdown.connect(on_worker_shutdown, weak=False)

    app = Celery(main, broker=settings.redis_url, backend=None)
    app.conf.update(
        task_queues=[KombuQueue(q.value) for q in Queue],  # type: ignore[no-untyped-call]
        task_default_queue=Queue.INGEST.value,
        task_routes=(route_by_prefix,),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        # A killed worker's unacked task comes back after this, not after an hour.
        broker_transport_options={"visibility_timeout": 300},
        beat_schedule=load_beat_schedule(),  # any service's app can run the one beat
        worker_hijack_root_logger=False,
        imports=imports,
    )
    return app
