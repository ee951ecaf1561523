"""The export API over the real stack: admins only, bad requests as problem+json, a job queued
on the export queue, its status with progress, counts and manifest, the list newest first
with a cursor, and downloads (streamed from a local lake, a presigned URL on S3); every
access audited."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import redis
from sqlalchemy import text

from libs.common.auth import Scope
from libs.common.db import get_engine
from libs.common.lake import Lake
from services.export.jobs import endpoints, repository
from services.export.lineage import rewrite
from tests.compliance.conftest import make_key
from tests.export.service_helpers import create, run, spec
from tests.export.test_training_pipeline import World, world  # noqa: F401 - the fixture


@pytest.fixture
async def app_transport(redis_url: str, database: str) -> AsyncIterator[httpx.ASGITransport]:
    from services.export.main import app

    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))


def _client(transport: httpx.ASGITransport, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport, base_url="http://export", headers={"Authorization": f"Bearer {key}"}
    )


@pytest.fixture
async def admin(app_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app_transport, await make_key([Scope.ADMIN])) as http:
        yield http


async def audited(asset: str) -> list[tuple[str, str]]:
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT purpose, action FROM common.audit_outbox WHERE asset = :a"
                " UNION ALL SELECT purpose, action FROM compliance.audit_log WHERE asset = :a"
            ),
            {"a": asset},
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_only_admins(app_transport: httpx.ASGITransport) -> None:
    async with _client(app_transport, await make_key([Scope.INGEST_WRITE])) as http:
        assert (await http.get("/v1/exports")).status_code == 403
        body = {"start_date": "2026-03-02", "end_date": "2026-03-02"}
        assert (await http.post("/v1/exports", json=body)).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_date": "2026-03-05", "end_date": "2026-03-02"}, "end_date"),
        ({"start_date": "2020-01-01", "end_date": "2026-03-02"}, "end_date"),
        ({"start_date": "2099-01-01", "end_date": "2099-01-02"}, "start_date"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-02", "formats": ["parquet"]}, "formats"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-02", "formats": ["csv"]}, "formats"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-02", "min_quality": 1.5}, "min_quality"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-02", "services": ["A B"]}, "services"),
        ({"start_date": "03/02/2026", "end_date": "2026-03-02"}, "start_date"),
    ],
)
async def test_bad_requests_are_problem_json(
    admin: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await admin.post("/v1/exports", json=body)
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert any(field in e["field"] for e in problem["errors"]), problem


async def test_post_queues_a_job_on_the_export_queue(
    admin: httpx.AsyncClient, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    queued_before = client.llen("export")
    response = await admin.post(
        "/v1/exports",
        json={
            "start_date": "2026-03-02",
            "end_date": "2026-03-08",
            "services": ["lyfbot-service"],
            "min_quality": 0.8,
            "formats": ["jsonl", "parquet"],
        },
    )
    assert response.status_code == 202, response.text
    export_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/exports/{export_id}"
    assert client.llen("export") == queued_before + 1
    message = orjson.loads(client.lindex("export", 0) or b"{}")
    assert message["headers"]["task"] == "export.run"
    status = (await admin.get(f"/v1/exports/{export_id}")).json()
    assert status["status"] == "queued"
    assert status["spec"] == {
        "start_date": "2026-03-02",
        "end_date": "2026-03-08",
        "services": ["lyfbot-service"],
        "min_quality": 0.8,
        "validation_ratio": 0.1,
        "formats": ["jsonl", "parquet"],
    }
    assert await audited(f"export/{export_id}")
    assert (await admin.get(f"/v1/exports/{uuid.uuid4()}")).status_code == 404


def _sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_status_list_and_download(
    admin: httpx.AsyncClient,
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(endpoints, "get_lake", lambda: world.lake)
    export_id = await create(spec())
    before = _sample("mindlake_export_records_out_total", split="train")
    await run(export_id, world.settings)
    newer = [await create(spec(), by="test-newer") for _ in range(3)]

    status = (await admin.get(f"/v1/exports/{export_id}")).json()
    assert status["status"] == "done" and status["version"] == 1
    assert status["progress"]["stage"] == "done"
    assert status["counts"]["out_train"] + status["counts"]["out_validation"] > 0
    assert status["average_quality"] >= 0.7
    assert status["manifest"]["files"]["train_jsonl"]["sha256"]
    written = _sample("mindlake_export_records_out_total", split="train") - before
    assert written == status["counts"]["out_train"]  # the metric counts what the job wrote
    assert _sample("mindlake_export_average_quality") == status["average_quality"]
    assert set(status["files"]) == {
        "train_jsonl",
        "validation_jsonl",
        "train_parquet",
        "validation_parquet",
        "manifest",
    }

    # newest first, page by page
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await admin.get("/v1/exports", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[:3] == [str(i) for i in reversed(newer)]
    assert str(export_id) in seen and len(seen) == len(set(seen))
    bad = await admin.get("/v1/exports", params={"cursor": "!!"})
    assert bad.status_code == 400

    name = status["files"]["train_jsonl"]
    path = status["manifest"]["files"]["train_jsonl"]["path"]
    expected = world.lake.read_bytes(path)
    response = await admin.get(f"/v1/exports/{export_id}/download", params={"file": name})
    lake: Lake = world.lake
    if lake.is_s3:
        assert response.status_code == 307
        url = response.headers["location"]
        assert "X-Amz-Signature" in url and "X-Amz-Expires=900" in url
        async with httpx.AsyncClient() as plain:
            fetched = await plain.get(url)
        assert fetched.status_code == 200 and fetched.content == expected
    else:
        assert response.status_code == 200
        assert response.content == expected
        assert response.headers["content-type"] == "application/gzip"
    assert ("MachineLearning", "Read") in await audited(path)

    missing = await admin.get(f"/v1/exports/{export_id}/download", params={"file": "x.gz"})
    assert missing.status_code == 404
    queued = await admin.get(f"/v1/exports/{newer[0]}/download", params={"file": name})
    assert queued.status_code == 400


async def _erase_one_train_user(export_id: uuid.UUID, world: World) -> dict[str, Any]:  # noqa: F811
    """Rewrite the export without one user of its train side (as an erasure or a withdrawal
    does); the export row before the rewrite."""
    async with get_engine().connect() as conn:
        before = await repository.get(conn, export_id)
        assert before is not None
        key = await conn.scalar(
            text("SELECT subject_key FROM export.lineage WHERE export_id = :id AND file = :f"),
            {"id": export_id, "f": before["paths"]["train_jsonl"]},
        )
    assert await rewrite.remove_subjects(get_engine(), world.lake, export_id, [key]) > 0
    return before


async def test_an_old_versions_file_name_leads_to_the_current_file(
    admin: httpx.AsyncClient,
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(endpoints, "get_lake", lambda: world.lake)
    export_id = await create(spec())
    await run(export_id, world.settings)
    before = await _erase_one_train_user(export_id, world)
    old = {role: path.rsplit("/", 1)[-1] for role, path in before["paths"].items()}
    status = (await admin.get(f"/v1/exports/{export_id}")).json()
    assert status["version"] == 2
    url = f"/v1/exports/{export_id}/download"

    # the train side and the manifest were rewritten: their old names lead to the new files
    for role in ("train_jsonl", "train_parquet", "manifest"):
        assert status["files"][role] != old[role]
        response = await admin.get(url, params={"file": old[role]})
        assert response.status_code == 307, response.text
        assert response.headers["location"] == f"{url}?file={status['files'][role]}"
    # the validation side was not rewritten: its name is still the current one
    assert status["files"]["validation_jsonl"] == old["validation_jsonl"]

    first = await admin.get(url, params={"file": old["train_jsonl"]})
    followed = await admin.get(first.headers["location"])
    new_path = status["manifest"]["files"]["train_jsonl"]["path"]
    if world.lake.is_s3:  # the second hop is the presigned URL of the new file
        assert followed.status_code == 307 and new_path in followed.headers["location"]
    else:
        assert followed.status_code == 200
        assert followed.content == world.lake.read_bytes(new_path)
        assert new_path.rsplit("/", 1)[-1] in followed.headers["content-disposition"]
    assert not world.lake.exists(before["paths"]["train_jsonl"])  # never served again

    # a version that never existed is no file of this export
    never = old["train_jsonl"].replace(".jsonl.gz", ".v9.jsonl.gz")
    assert (await admin.get(url, params={"file": never})).status_code == 404


async def test_a_file_no_longer_stored_is_gone_not_a_500(
    admin: httpx.AsyncClient,
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(endpoints, "get_lake", lambda: world.lake)
    export_id = await create(spec())
    await run(export_id, world.settings)
    await _erase_one_train_user(export_id, world)
    status = (await admin.get(f"/v1/exports/{export_id}")).json()
    current = status["manifest"]["files"]["train_jsonl"]["path"]
    world.lake.delete(current)  # e.g. retention, or a rewrite between reading the row and now

    response = await admin.get(
        f"/v1/exports/{export_id}/download", params={"file": status["files"]["train_jsonl"]}
    )
    assert response.status_code == 410, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "version 2" in response.json()["detail"]
