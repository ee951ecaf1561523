"""A training export reports its run to the catalog (libs/common/catalog.py run_event): a
START, then a COMPLETE naming the raw/events version it read, its consent snapshot and its
files, on the real Redis broker's `catalog` queue."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
import redis

from libs.common.contracts import Queue, TaskName
from tests.export.service_helpers import create, run, spec
from tests.export.test_training_pipeline import World, world  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("lake_settings", ["local"],
                                                                 indirect=True)]  # fmt: skip


def run_events(client: redis.Redis[bytes], run_id: str) -> list[tuple[bytes, dict[str, Any]]]:
    found = []
    for raw in client.lrange(Queue.CATALOG.value, 0, -1):
        message = orjson.loads(raw)
        if message["headers"]["task"] != TaskName.CATALOG_RECORD_RUN:
            continue
        _, kwargs, _ = orjson.loads(base64.b64decode(message["body"]))
        if kwargs["run_id"] == run_id:
            found.append((raw, kwargs))
    return found


async def test_a_finished_export_reports_its_lineage(
    world: World,  # noqa: F811
    redis_url: str,
) -> None:
    export_id = await create(spec())
    row = await run(export_id, world.settings)
    client = redis.Redis.from_url(redis_url)
    events = run_events(client, str(export_id))
    try:
        by_state = {e["state"]: e for _, e in events}  # the list's order is the broker's
        assert sorted(by_state) == ["COMPLETE", "START"] and len(events) == 2
        done = by_state["COMPLETE"]
        manifest = row["manifest"]
        assert done["job"] == "export.training" and done["service"] == "export"
        version = manifest["source_tables"]["raw/events"]["version"]
        assert version is not None
        assert done["inputs"] == [{"path": "raw/events", "version": version}]
        assert done["outputs"] == [{"path": "processed/training-data", "version": None}]
        assert done["facets"]["consent_snapshot_at"] == manifest["consent_snapshot_at"]
        counts = row["counts"]
        assert done["facets"]["lines"] == counts["out_train"] + counts["out_validation"] > 0
    finally:
        for raw, _ in events:  # only this test's messages: the queue is shared
            client.lrem(Queue.CATALOG.value, 1, raw)
