"""Every erasure/portability send (steps, verify, advance) goes out through a real Celery app
and Redis broker with `expires` and the kwargs of its payload model in libs/common/contracts."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from libs.common.celery_app import create_celery
from libs.common.contracts import (
    SubjectRequestRef,
    SubjectStep,
    SubjectStore,
    TaskName,
    queue_for,
    step_task_for,
)
from libs.common.lake import Lake
from libs.common.subject_rights import Phase
from services.compliance.config import ComplianceSettings
from services.compliance.subject_requests.dispatch import Dispatch, send

pytestmark = pytest.mark.integration


def _take_sent(client: redis.Redis, queue: str, ids: set[str]) -> list[dict[str, Any]]:
    """The messages of `ids` waiting in `queue` (removed from it, so no worker runs them)."""
    found = []
    for raw in client.lrange(queue, 0, -1):
        message = orjson.loads(raw)
        if message["headers"]["id"] in ids:
            client.lrem(queue, 1, raw)
            found.append(message)
    return found


def test_every_send_has_expires_and_its_payload_model(tmp_path: Path, redis_url: str) -> None:
    settings = ComplianceSettings(redis_url=redis_url, lake_root=f"file://{tmp_path / 'lake'}")
    app = create_celery("dispatch-test", settings)
    request_id = uuid.uuid4()
    stores = [SubjectStore.INGEST_OUTBOX.value, SubjectStore.COMPLIANCE_ARCHIVES.value]
    calls: list[dict[str, Any]] = []
    real_send = app.send_task

    def spy(name: str, **options: Any) -> Any:
        result = real_send(name, **options)
        calls.append({"name": name, "id": result.id, **options})
        return result

    app.send_task = spy  # type: ignore[method-assign]
    expires_s = 321
    before = datetime.now(UTC)
    send(
        app,
        Lake(settings),
        request_id,
        Dispatch(steps=[(s, Phase.ERASE) for s in stores], verify=True, advance=True),
        expires_s=expires_s,
    )
    after = datetime.now(UTC)

    expected = [
        *(
            (step_task_for(s), SubjectStep(request_id=request_id, store=s, phase="erase"))
            for s in stores
        ),
        (TaskName.COMPLIANCE_SUBJECT_VERIFY, SubjectRequestRef(request_id=request_id)),
        (TaskName.COMPLIANCE_SUBJECT_ADVANCE, SubjectRequestRef(request_id=request_id)),
    ]
    assert [c["name"] for c in calls] == [name for name, _ in expected]
    for call, (_, payload) in zip(calls, expected, strict=True):
        assert call["expires"] == expires_s
        assert call["kwargs"] == payload.model_dump(mode="json")
        assert "args" not in call

    # What reached the broker: the expiry time in each message's headers, the payload's kwargs.
    client = redis.Redis.from_url(redis_url)
    ids = {c["id"] for c in calls}
    sent = [
        m for q in sorted({queue_for(c["name"]) for c in calls}) for m in _take_sent(client, q, ids)
    ]
    assert len(sent) == len(calls)
    by_id = {m["headers"]["id"]: m for m in sent}
    for call, (name, payload) in zip(calls, expected, strict=True):
        message = by_id[call["id"]]
        assert message["headers"]["task"] == name
        expires_at = datetime.fromisoformat(message["headers"]["expires"])
        assert before + timedelta(seconds=expires_s - 1) <= expires_at
        assert expires_at <= after + timedelta(seconds=expires_s + 1)
        args, kwargs, _ = orjson.loads(base64.b64decode(message["body"]))
        assert args == []
        assert kwargs == payload.model_dump(mode="json")
