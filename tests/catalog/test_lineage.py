"""Run-level lineage over real Postgres and a local lake: runs recorded from their events
(through a real catalog worker, and in process), an export's lineage naming the raw table
versions it read and its consent snapshot, walks up- and downstream at a version, the SVG
picture, GraphQL's `lineage` field and depth limit, and OpenLineage events posted over HTTP
to a consumer."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from libs.common.auth import Scope
from libs.common.catalog import asset_written, run_event
from libs.common.contracts import DatasetVersion, RunEvent
from libs.common.db import get_engine
from libs.common.lake import Lake
from services.catalog.assets import service as assets
from services.catalog.config import CatalogSettings
from services.catalog.lineage import openlineage, service
from tests.catalog.support import call, key, reconcile
from tests.catalog.test_graphql import gql
from tests.integration.services import lake_env, tails, workers

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("lake_settings", ["local"],
                                                                 indirect=True)]  # fmt: skip
SNAPSHOT = "2026-12-01T00:00:00+00:00"


def event(run_id: uuid.UUID, job: str, state: str, inputs: list[tuple[str, int | None]],
          outputs: list[tuple[str, int | None]], **facets: Any) -> RunEvent:  # fmt: skip
    return RunEvent(
        run_id=run_id, job=job, service=job.split(".", maxsplit=1)[0], state=state,
        at=datetime.now(UTC),
        inputs=[DatasetVersion(path=p, version=v) for p, v in inputs],
        outputs=[DatasetVersion(path=p, version=v) for p, v in outputs], facets=facets,
    )  # fmt: skip


async def two_exports() -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A flush writes raw/events v1; an export reads v1; a later export reads v2."""
    flush, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    engine = get_engine()
    await service.record(engine, event(flush, "ingest.flush", "COMPLETE", [], [("raw/events", 1)]))
    for run_id, version in ((first, 1), (second, 2)):
        await service.record(engine, event(run_id, "export.training", "START",
                                           [("raw/events", version)], []))  # fmt: skip
        await service.record(engine, event(
            run_id, "export.training", "COMPLETE", [("raw/events", version)],
            [("processed/training-data/x_train.jsonl.gz", None)],
            export_id=str(run_id), consent_snapshot_at=SNAPSHOT,
        ))  # fmt: skip
    return flush, first, second


async def test_an_exports_lineage_names_the_raw_versions_and_consent_snapshot(
    catalog_env: CatalogSettings,
) -> None:
    await reconcile(catalog_env)
    flush, first, second = await two_exports()
    reader = await key(Scope.CATALOG_READ)
    training = assets.asset_id("processed/training-data")
    reply = await call(reader, "GET", f"/v1/assets/{training}/lineage",
                       params={"direction": "upstream", "depth": 1})  # fmt: skip
    assert reply.status_code == 200, reply.text
    body = reply.json()
    runs = {r["run_id"]: r for r in body["runs"]}
    assert set(runs) == {str(first), str(second)}
    assert all(r["state"] == "COMPLETE" and r["job"] == "export.training" for r in runs.values())
    assert runs[str(first)]["facets"] == {"export_id": str(first), "consent_snapshot_at": SNAPSHOT}
    read = {(e["run_id"], e["version"]) for e in body["edges"] if e["direction"] == "input"}
    assert read == {(str(first), 1), (str(second), 2)}
    assert body["assets"][str(assets.asset_id("raw/events"))]["name"] == "raw events"
    # Two runs away: the flush that wrote raw/events v1 (not v2: no run wrote that one here).
    deeper = (await call(reader, "GET", f"/v1/assets/{training}/lineage",
                         params={"direction": "upstream", "depth": 2})).json()  # fmt: skip
    assert {r["run_id"] for r in deeper["runs"]} == {str(first), str(second), str(flush)}
    # Downstream of raw/events at version 1: the first export only.
    events = assets.asset_id("raw/events")
    down = (await call(reader, "GET", f"/v1/assets/{events}/lineage",
                       params={"direction": "downstream", "version": 1})).json()  # fmt: skip
    assert [r["run_id"] for r in down["runs"]] == [str(first)]
    # One run, whole.
    run = (await call(reader, "GET", f"/v1/runs/{second}")).json()
    assert run["inputs"] == [{"asset_id": str(events), "location": "raw/events", "version": 2}]
    assert run["outputs"][0]["location"] == "processed/training-data"
    assert (await call(reader, "GET", f"/v1/runs/{uuid.uuid4()}")).status_code == 404
    assert (await call(reader, "GET", f"/v1/assets/{uuid.uuid4()}/lineage")).status_code == 404
    bad = await call(reader, "GET", f"/v1/assets/{training}/lineage", params={"depth": 10**20})
    assert bad.status_code == 422


async def test_the_lineage_picture(catalog_env: CatalogSettings) -> None:
    await reconcile(catalog_env)
    flush, first, second = await two_exports()
    reader = await key(Scope.CATALOG_READ)
    training = assets.asset_id("processed/training-data")
    reply = await call(reader, "GET", f"/v1/assets/{training}/lineage.svg",
                       params={"depth": 2})  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "image/svg+xml"
    picture = reply.text
    assert "<svg" in picture and picture.count('class="node"') == 5  # 3 runs, 2 assets
    titles = [f"<title>r{run}</title>".replace("-", "&#45;") for run in (flush, first, second)]
    assert all(title in picture for title in titles)
    assert "raw events" in picture and "AI training exports" in picture and "v2" in picture


async def test_a_late_start_does_not_reopen_a_finished_run(catalog_env: CatalogSettings) -> None:
    run_id, engine = uuid.uuid4(), get_engine()
    done = event(run_id, "risk.train", "COMPLETE", [("risk/features", 4)], [("models/risk", None)])
    await service.record(engine, done)
    await service.record(engine, event(run_id, "risk.train", "START", [("risk/features", 4)], []))
    await service.record(engine, done)  # redelivered
    async with engine.connect() as conn:
        state, n = (await conn.execute(text(
            "SELECT r.state, (SELECT count(*) FROM catalog.run_datasets d"
            " WHERE d.run_id = r.run_id) FROM catalog.runs r WHERE r.run_id = :r"),
            {"r": run_id})).one()  # fmt: skip
    assert (state, n) == ("COMPLETE", 2)


async def test_graphql_lineage_and_its_depth_limit(catalog_env: CatalogSettings) -> None:
    await reconcile(catalog_env)
    await two_exports()
    reader = await key(Scope.CATALOG_READ)
    training = str(assets.asset_id("processed/training-data"))
    query = """query($id: ID!) { getDataAsset(id: $id) { name lineage {
      upstream { version direction run { job state facets } asset { name version } }
      downstream { version } } } }"""
    body = await gql(reader, query, id=training)
    assert "errors" not in body, body
    lineage = body["data"]["getDataAsset"]["lineage"]
    assert sorted(e["version"] for e in lineage["upstream"]) == [1, 2]
    assert {e["asset"]["name"] for e in lineage["upstream"]} == {"raw events"}
    assert lineage["upstream"][0]["run"]["facets"]["consent_snapshot_at"] == SNAPSHOT
    assert lineage["downstream"] == []
    nested = "name"
    for _ in range(5):  # each level: lineage > upstream > asset, three deeper
        nested = f"name lineage {{ upstream {{ asset {{ {nested} }} }} }}"
    deep = await gql(reader, f'{{ getDataAsset(id: "{training}") {{ {nested} }} }}')
    assert "exceeds maximum operation depth" in deep["errors"][0]["message"]
    assert deep["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


class Consumer:
    """An OpenLineage consumer over HTTP: keeps every event POSTed to /api/v1/lineage."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        consumer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("content-length", 0))
                if self.path == "/api/v1/lineage":
                    consumer.events.append(json.loads(self.rfile.read(size)))
                    self.send_response(201)
                else:
                    self.send_response(404)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def consumer() -> Iterator[Consumer]:
    found = Consumer()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()


async def test_openlineage_events_reach_the_consumer(
    catalog_env: CatalogSettings, consumer: Consumer
) -> None:
    settings = catalog_env.model_copy(update={"catalog_openlineage_url": consumer.url})
    run_id = uuid.uuid4()
    done = event(run_id, "export.training", "COMPLETE", [("raw/events", 3)],
                 [("processed/training-data/a.jsonl.gz", None)])  # fmt: skip
    assert await asyncio.to_thread(openlineage.emit, settings, Lake(settings), done)
    (sent,) = consumer.events
    assert sent["eventType"] == "COMPLETE" and sent["run"]["runId"] == str(run_id)
    assert sent["job"] == {"namespace": "mindlake", "name": "export.training", "facets": {}}
    (source,) = sent["inputs"]
    assert source["namespace"] == f"file://{Lake(settings).root}"
    assert source["name"] == "raw/events"
    assert source["facets"]["version"]["datasetVersion"] == "3"
    assert sent["outputs"][0]["name"] == "processed/training-data"
    # Not configured: nothing is sent; a consumer that is gone: counted, not raised.
    assert not await asyncio.to_thread(openlineage.emit, catalog_env, Lake(settings), done)
    gone = settings.model_copy(update={"catalog_openlineage_url": "http://127.0.0.1:9"})
    assert not await asyncio.to_thread(openlineage.emit, gone, Lake(settings), done)
    assert len(consumer.events) == 1


async def test_hints_and_run_events_through_the_catalog_worker(
    catalog_env: CatalogSettings, lake_settings: Any, tmp_path: Path, consumer: Consumer
) -> None:
    """What a writer sends (libs/common/catalog.py) is recorded by a real worker, which also
    forwards the run to the OpenLineage consumer."""
    run_id = uuid.uuid4()
    variables = lake_env(lake_settings) | {"MINDLAKE_CATALOG_OPENLINEAGE_URL": consumer.url}
    with workers(variables, tmp_path, "catalog") as logs:
        asset_written("raw/tenants/acme/interactions", service="ingest")
        run_event(run_id, job="export.recommender", service="export", state="COMPLETE",
                  inputs=[("raw/tenants/acme/interactions", 0)],
                  outputs=[("processed/recommender/acme/run-1", None)])  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            async with get_engine().connect() as conn:
                registered = await conn.scalar(text(
                    "SELECT count(*) FROM catalog.assets WHERE last_writer = 'ingest'"
                    " AND location = 'raw/tenants/acme/interactions'"))  # fmt: skip
                recorded = await conn.scalar(
                    text("SELECT count(*) FROM catalog.runs WHERE run_id = :r"), {"r": run_id}
                )
            forwarded = [e["run"]["runId"] for e in consumer.events]
            if registered and recorded and str(run_id) in forwarded:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(tails(logs))
    reader = await key(Scope.CATALOG_READ)
    tenant = (await call(reader, "GET", "/v1/assets",
                         params={"tag": "tenant"})).json()["items"]  # fmt: skip
    assert [a["location"] for a in tenant] == ["raw/tenants/acme/interactions"]
    assert tenant[0]["rows"] == 2 and tenant[0]["last_writer"] == "ingest"
    run = (await call(reader, "GET", f"/v1/runs/{run_id}")).json()
    assert run["outputs"][0]["location"] == "processed/recommender/acme"
    (sent,) = [e for e in consumer.events if e["run"]["runId"] == str(run_id)]
    assert sent["job"]["name"] == "export.recommender"
