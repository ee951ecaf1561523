"""Telling the catalog what was written and by which run: every lake writer calls
`asset_written` after its commit, and jobs that read and write assets report their runs with
`run_event` (START, then COMPLETE or FAIL, with the assets at the versions they used).

These messages are hints, not promises. When Redis is down, a hint is dropped with a warning
and the catalog's daily reconcile finds the asset anyway. So a writer never fails for it.
(A lost run event loses that run's lineage; the data is not affected.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

import structlog
from celery import Celery

from libs.common.contracts import AssetWritten, DatasetVersion, Queue, RunEvent, TaskName
from libs.common.settings import get_settings

log = structlog.get_logger(__name__)
EXPIRES_S = 24 * 3600  # older than a day: the reconcile has seen the asset by then
CONNECT_TIMEOUT_S = 2.0  # a broker that is down costs a writer this, not the client's retries


@lru_cache(maxsize=4)
def _sender(broker_url: str) -> Celery:
    """A producer of its own: Celery's current app is per thread (a pool thread or a CLI
    has none, and the default app's broker is AMQP on localhost), so hints are sent by an app
    that always names the configured Redis."""
    app = Celery("mindlake-catalog-hints", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        broker_connection_timeout=CONNECT_TIMEOUT_S,
        broker_transport_options={"socket_connect_timeout": CONNECT_TIMEOUT_S},
    )
    return app


def _send(task: TaskName, payload: dict[str, Any]) -> None:
    try:
        _sender(get_settings().redis_url).send_task(
            task, kwargs=payload, queue=Queue.CATALOG.value, expires=EXPIRES_S, retry=False
        )
    except Exception as exc:  # the reconcile covers a lost hint; the write itself stands
        log.warning("catalog_hint_not_sent", task=task.value, error_type=type(exc).__name__)


def asset_written(path: str, *, service: str) -> None:
    """Queue `catalog.register` for the asset at `path` (relative to the lake root)."""
    event = AssetWritten(path=path.strip("/"), service=service, at=datetime.now(UTC))
    _send(TaskName.CATALOG_REGISTER, event.model_dump(mode="json"))


RUN_NAMESPACE = uuid.UUID("0f6b8a52-3c1d-4b7e-9a44-2d5e8c1f7a90")


def run_id_for(job: str, key: str) -> uuid.UUID:
    """A run id for a job whose runs are named otherwise (a folder, an upload id, a row id)."""
    return uuid.uuid5(RUN_NAMESPACE, f"{job}:{key}")


def run_event(
    run_id: uuid.UUID,
    *,
    job: str,
    service: str,
    state: Literal["START", "COMPLETE", "FAIL"],
    inputs: Iterable[tuple[str, int | None]] = (),
    outputs: Iterable[tuple[str, int | None]] = (),
    facets: dict[str, str | int | float | bool | None] | None = None,
) -> None:
    """Queue `catalog.record_run`: `inputs`/`outputs` are (lake path, version) pairs."""
    event = RunEvent(
        run_id=run_id, job=job, service=service, state=state, at=datetime.now(UTC),
        inputs=[DatasetVersion(path=p.strip("/"), version=v) for p, v in inputs],
        outputs=[DatasetVersion(path=p.strip("/"), version=v) for p, v in outputs],
        facets=facets or {},
    )  # fmt: skip
    _send(TaskName.CATALOG_RECORD_RUN, event.model_dump(mode="json"))
