"""The unmodified Segment and RudderStack Python SDKs against the real ingest API (uvicorn in a
subprocess): their calls land in the outbox, then in the raw table, deduplicated by messageId,
with identifying traits hashed."""

from __future__ import annotations

import base64
import gzip
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from services.ingest.flush.service import flush_outbox
from tests.ingest.lake_scan import all_keys, decrypted_rows, find

REPO = Path(__file__).resolve().parents[2]
EMAIL = "ada.quillfeather@example.org"
PHONE = "+1 415 555 0199"
NAME = "Ada Quillfeather"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ingest_url(
    database: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The real ingest API, as deployed: uvicorn in its own process, on the test database."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("uvicorn") / "uvicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "services.ingest.main:app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            pytest.fail("the ingest API did not start")
        time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)


async def _key(services: list[str]) -> str:
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"segment-{uuid.uuid4().hex[:6]}", scopes=[Scope.INGEST_WRITE],
            services=services,
        )  # fmt: skip
        await session.commit()
    return key


@pytest.fixture
async def write_key(clean_outbox: None) -> str:
    """As `mindlake keys create --scope ingest:write --service segment` makes it."""
    return await _key(["segment"])


class Errors:
    """on_error callback of both SDKs: (status, code) of every failed upload."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []

    def __call__(self, error: Any, batch: Any) -> None:
        self.seen.append((getattr(error, "status", 0), str(getattr(error, "code", error))))


def segment_client(url: str, key: str, errors: Errors, retries: int = 1) -> SegmentClient:
    return SegmentClient(key, host=url, on_error=errors, max_retries=retries, upload_interval=0.05)


def rudder_client(url: str, key: str, errors: Errors, retries: int = 1) -> RudderClient:
    return RudderClient(key, host=url, on_error=errors, max_retries=retries, upload_interval=0.05)


def send_every_call(client: Any, user: str, ids: dict[str, str]) -> None:
    """track, identify, page, screen, group and alias, each with a known messageId."""
    client.identify(user, {"email": EMAIL, "name": NAME, "phone": PHONE, "plan": "premium"},
                    message_id=ids["identify"])  # fmt: skip
    client.track(user, "Journal Entry Saved",
                 {"words": 212, "note": f"wrote to {EMAIL} about it"},
                 message_id=ids["track"])  # fmt: skip
    client.page(user, "Settings", "Notifications", {"path": "/settings"},
                message_id=ids["page"])  # fmt: skip
    client.screen(user, "Onboarding", "Mood Check-in", {"step": 2}, message_id=ids["screen"])
    client.group(user, "org_acme", {"seats": 40}, message_id=ids["group"])
    client.alias("anon-device-7", user, message_id=ids["alias"])
    client.flush()


async def outbox(ids: list[str]) -> dict[str, dict[str, Any]]:
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            text("SELECT event_id, service, user_id, event_type, payload FROM ingest.outbox"
                 " WHERE event_id = ANY(:ids)"),
            {"ids": ids},
        )  # fmt: skip
        return {r[0]: {"service": r[1], "user_id": r[2], "event_type": r[3], "payload": r[4]}
                for r in rows}  # fmt: skip


async def raw_rows(settings: Any) -> list[dict[str, Any]]:
    """The raw table's rows, body and extras decrypted as a reader sees them."""
    return await decrypted_rows(Lake(settings), RAW_EVENTS)


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
async def test_every_call_of_the_sdk_lands_in_the_lake(
    sdk: str, ingest_url: str, write_key: str, lake_settings: Any
) -> None:
    errors = Errors()
    make = segment_client if sdk == "segment" else rudder_client
    client = make(ingest_url, write_key, errors)
    if sdk == "rudderstack":
        assert client.gzip  # RudderStack's SDK gzips its batches by default
    user = f"u_{uuid.uuid4().hex[:12]}"
    ids = {call: f"{sdk}-{call}-{uuid.uuid4()}" for call in
           ("identify", "track", "page", "screen", "group", "alias")}  # fmt: skip
    send_every_call(client, user, ids)
    client.shutdown()
    assert errors.seen == []

    held = await outbox(list(ids.values()))
    assert set(held) == set(ids.values())  # committed to the outbox before the 200
    assert {held[ids[c]]["event_type"] for c in ids} == set(ids)
    assert {r["service"] for r in held.values()} == {"segment"}
    assert {r["user_id"] for r in held.values()} == {user}

    await flush_outbox(lake_settings, Lake(lake_settings))
    rows = {r["event_id"]: r for r in (await raw_rows(lake_settings))}
    assert set(rows) == set(ids.values())  # messageId is the event_id
    track = orjson.loads(rows[ids["track"]]["body"])
    assert track["type"] == "track" and track["event"] == "Journal Entry Saved"
    assert track["properties"]["words"] == 212
    assert EMAIL not in track["properties"]["note"]  # free text in properties is scrubbed
    page = orjson.loads(rows[ids["page"]]["body"])
    assert (page["category"], page["name"]) == ("Settings", "Notifications")
    group = orjson.loads(rows[ids["group"]]["body"])
    assert group["group_id"] == "org_acme" and group["traits"] == {"seats": 40}
    alias = orjson.loads(rows[ids["alias"]]["body"])
    assert alias["previous_id"] == "anon-device-7"
    identify = orjson.loads(rows[ids["identify"]]["body"])
    # Segment puts traits at the top level, RudderStack in context.traits: hashed either way.
    traits = identify.get("traits") or identify["context"]["traits"]
    assert traits["email"].startswith("<EMAIL_ADDRESS:") and traits["plan"] == "premium"
    assert traits["phone"].startswith("<PHONE_NUMBER:")
    needles = [EMAIL, PHONE, NAME, write_key]
    assert find(Lake(lake_settings), needles, keys=await all_keys()) == []

    async with get_engine().connect() as conn:  # known identifiers, for scrubbing their texts
        kinds = dict(
            (
                await conn.execute(
                    text("SELECT kind, value FROM ingest.user_identifiers WHERE user_id = :u"),
                    {"u": user},
                )
            ).all()
        )
    assert kinds == {"email": EMAIL, "name": NAME, "phone": PHONE}


async def test_a_resent_message_id_is_a_duplicate(
    ingest_url: str, write_key: str, lake_settings: Any
) -> None:
    errors = Errors()
    client = segment_client(ingest_url, write_key, errors)
    message_id = f"dup-{uuid.uuid4()}"
    for _ in range(2):
        client.track("u_dup", "Breathing Exercise Done", {"seconds": 60}, message_id=message_id)
        client.flush()
    await flush_outbox(lake_settings, Lake(lake_settings))
    client.track("u_dup", "Breathing Exercise Done", {"seconds": 60}, message_id=message_id)
    client.shutdown()
    await flush_outbox(lake_settings, Lake(lake_settings))
    assert errors.seen == []
    assert [r["event_id"] for r in (await raw_rows(lake_settings))] == [message_id]

    auth = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}
    message = {"type": "track", "userId": "u_dup", "event": "X", "messageId": message_id}
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{ingest_url}/v1/batch", json={"batch": [message]}, headers=auth)
    assert reply.status_code == 200
    assert reply.json() | {"event_ids": None} == {
        "success": True, "accepted": 0, "duplicate": 1, "rejected": 0, "errors": [],
        "event_ids": None,
    }  # fmt: skip


@pytest.mark.parametrize("make", [segment_client, rudder_client], ids=["segment", "rudderstack"])
def test_a_bad_write_key_is_401_and_not_retried(make: Any, ingest_url: str) -> None:
    errors = Errors()
    client = make(ingest_url, "mlk_nosuchkey_secret", errors, retries=6)
    before = _batch_401s(ingest_url)
    client.track("u_1", "Signed Up")
    client.shutdown()
    assert errors.seen == [(401, "unauthorized")]
    assert _batch_401s(ingest_url) - before == 1  # a 4xx with code/message is not retried


def _batch_401s(url: str) -> float:
    """POST /v1/batch requests the server has answered 401 (its access counter)."""
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = r'mindlake_http_requests_total\{method="POST",route="/v1/batch",status="401"\} (\S+)'
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


async def test_wire_details(ingest_url: str, write_key: str) -> None:
    async with httpx.AsyncClient(base_url=f"{ingest_url}/v1") as http:
        await wire_details(http, write_key)


async def wire_details(http: httpx.AsyncClient, write_key: str) -> None:
    # writeKey in the body instead of Basic auth; gzip; a single call; numeric userId.
    body = {"writeKey": write_key, "userId": 42, "event": "Mood Logged",
            "messageId": f"wk-{uuid.uuid4()}", "timestamp": "2026-11-20T10:00:00Z"}  # fmt: skip
    reply = await http.post("track", content=gzip.compress(orjson.dumps(body)),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.json()["success"] is True and reply.json()["accepted"] == 1
    held = await outbox([body["messageId"]])
    payload = orjson.loads(held[body["messageId"]]["payload"])
    assert payload["user_id"] == "42" and payload["type"] == "track"
    assert "writeKey" not in payload and "userId" not in payload

    auth = (write_key, "")
    # anonymousId only: user_id is anon:<id>; originalTimestamp is corrected for clock skew.
    reply = await http.post("batch", auth=auth, json={
        "sentAt": "2026-11-20T10:00:10Z",
        "batch": [
            {"type": "page", "anonymousId": "dev-1", "name": "Home",
             "originalTimestamp": "2026-11-20T10:00:00Z", "messageId": "anon-page-1"},
            {"type": "track", "properties": {}, "event": "No One"},  # no userId/anonymousId
            {"type": "track", "userId": "u_2"},  # no event
            {"type": "shout", "userId": "u_2"},
        ],
    })  # fmt: skip
    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert (out["accepted"], out["rejected"]) == (1, 3)
    assert [e["index"] for e in out["errors"]] == [1, 2, 3]
    assert "userId or anonymousId" in out["errors"][0]["reason"]
    assert "event" in out["errors"][1]["reason"]
    assert out["errors"][2]["field"] == "type"
    page = orjson.loads((await outbox(["anon-page-1"]))["anon-page-1"]["payload"])
    assert page["user_id"] == "anon:dev-1" and page["sent_at"] == "2026-11-20T10:00:10Z"
    lag = time.time() - _epoch(page["timestamp"])
    assert 5 < lag < 120  # received now, sent 10 s after it happened

    # Nothing valid: 400 problem+json, with Segment's code/message and our per-entry errors.
    reply = await http.post("batch", auth=auth, json={"batch": [{"type": "track"}]})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["code"] == "invalid_request" and problem["errors"][0]["index"] == 0

    # Limits are the ingest ones: 32 KB a message, 500 KB a body.
    big = {"type": "track", "userId": "u_3", "event": "Big", "properties": {"x": "a" * 40_000}}
    assert (await http.post("track", auth=auth, json=big)).status_code == 413
    reply = await http.post("batch", auth=auth, json={"batch": [big] * 14})
    assert reply.status_code == 413
    reply = await http.post(
        "batch", auth=auth, json={"batch": [big, body | {"type": "track", "messageId": "s1"}]}
    )
    assert reply.status_code == 200 and reply.json()["rejected"] == 1

    # A key scoped to other services may not write Segment events; no key is 401.
    other = await _key(["journal-service"])
    reply = await http.post("track", auth=(other, ""), json=body)
    assert reply.status_code == 400 and "may not write" in reply.json()["errors"][0]["reason"]
    reply = await http.post("track", json={k: v for k, v in body.items() if k != "writeKey"})
    assert reply.status_code == 401 and reply.json()["code"] == "unauthorized"
    nested: dict[str, Any] = {}
    deep = nested
    for _ in range(300):
        deep["a"] = {}
        deep = deep["a"]
    reply = await http.post("track", auth=auth, json=body | {"properties": nested})
    assert reply.status_code == 400


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


async def test_module_level_api_as_in_the_readme(ingest_url: str, write_key: str) -> None:
    import rudderstack.analytics as rudder_analytics
    import segment.analytics as analytics

    errors = Errors()
    ids = [f"readme-{uuid.uuid4()}", f"readme-{uuid.uuid4()}"]
    try:
        analytics.write_key, analytics.host, analytics.on_error = write_key, ingest_url, errors
        rudder_analytics.write_key, rudder_analytics.on_error = write_key, errors
        rudder_analytics.dataPlaneUrl = ingest_url
        analytics.track("u_readme", "Tip Viewed", {"tip": 3}, message_id=ids[0])
        rudder_analytics.track("u_readme", "Tip Viewed", {"tip": 4}, message_id=ids[1])
        analytics.flush()
        rudder_analytics.flush()
    finally:
        for module in (analytics, rudder_analytics):
            if module.default_client is not None:
                module.default_client.join()
            module.default_client = None
    assert errors.seen == []
    assert set(await outbox(ids)) == set(ids)
