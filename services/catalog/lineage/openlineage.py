"""Run events forwarded to an OpenLineage consumer (Marquez, or any HTTP endpoint of the
spec) when `MINDLAKE_CATALOG_OPENLINEAGE_URL` is set: START and COMPLETE/FAIL, the job in the
`mindlake` namespace, datasets in the lake's namespace (its URI) named by their location, at
the versions the run saw.

A consumer that is down is not retried forever: the event is counted as failed and logged
(the run's lineage is in the catalog's own tables either way).
"""

from __future__ import annotations

import structlog
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunState
from openlineage.client.event_v2 import RunEvent as OpenLineageRunEvent
from openlineage.client.facet_v2 import DatasetFacet
from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
from openlineage.client.transport.http import HttpConfig, HttpTransport

from libs.common.contracts import DatasetVersion, RunEvent
from libs.common.lake import Lake
from services.catalog.config import CatalogSettings
from services.catalog.lineage.metrics import OPENLINEAGE_EVENTS
from services.catalog.lineage.service import location_of

log = structlog.get_logger(__name__)
JOB_NAMESPACE = "mindlake"
PRODUCER = "https://github.com/mindlake/mindlake/tree/main/services/catalog"


def _facets(d: DatasetVersion) -> dict[str, DatasetFacet]:
    if d.version is None:
        return {}
    return {"version": DatasetVersionDatasetFacet(datasetVersion=str(d.version))}


def to_openlineage(event: RunEvent, namespace: str) -> OpenLineageRunEvent:
    return OpenLineageRunEvent(
        eventType=RunState(event.state),
        eventTime=event.at.isoformat(),
        run=Run(runId=str(event.run_id)),
        job=Job(namespace=JOB_NAMESPACE, name=event.job),
        producer=PRODUCER,
        inputs=[InputDataset(namespace=namespace, name=location_of(d.path), facets=_facets(d))
                for d in event.inputs],
        outputs=[OutputDataset(namespace=namespace, name=location_of(d.path), facets=_facets(d))
                 for d in event.outputs],
    )  # fmt: skip


def client_for(settings: CatalogSettings) -> OpenLineageClient | None:
    if not settings.catalog_openlineage_url:
        return None
    config = HttpConfig(
        url=settings.catalog_openlineage_url,
        endpoint=settings.catalog_openlineage_endpoint,
        timeout=settings.catalog_openlineage_timeout_s,
        retry={"total": 2, "backoff_factor": 0.5, "status_forcelist": [500, 502, 503, 504]},
    )
    return OpenLineageClient(transport=HttpTransport(config))


def emit(settings: CatalogSettings, lake: Lake, event: RunEvent) -> bool:
    """Forward the event when a consumer is configured; whether it was accepted."""
    client = client_for(settings)
    if client is None:
        return False
    try:
        client.emit(to_openlineage(event, lake.root if lake.is_s3 else f"file://{lake.root}"))
    except Exception as exc:  # the consumer's trouble must not fail the run's recording
        OPENLINEAGE_EVENTS.labels("failed").inc()
        log.warning("openlineage_emit_failed", error_type=type(exc).__name__)
        return False
    OPENLINEAGE_EVENTS.labels("sent").inc()
    return True
