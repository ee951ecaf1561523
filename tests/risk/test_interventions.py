"""Interventions against real Postgres, a real local webhook receiver (a threaded HTTP server
on loopback), real Redis for the alert task, and a local fake of OpenAI's chat completions API
(the real openai client over HTTP; only OpenAI's side is fake)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import func, insert, select, text

from libs.common.app import service_app
from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker
from services.risk.config import DISCLAIMER, RiskSettings
from services.risk.interventions import llm
from services.risk.interventions.alerts import (
    SIGNATURE_HEADER,
    RetryableAlertError,
    deliver_alert,
    retry_delay,
    unsent_alerts,
)
from services.risk.interventions.endpoints import router
from services.risk.interventions.service import intervene
from services.risk.interventions.templates import (
    CRISIS_RESOURCES,
    TEMPLATES,
    template_message,
)
from services.risk.models import AssessmentRow, InterventionRow

DAY = date(2026, 11, 2)
SECRET = "webhook-secret-for-tests"
KEY = "sk-test-risk-0123456789"
TOP = [
    {"feature": "mood_trend_14", "value": -0.4, "contribution": 0.3},
    {"feature": "crisis_hits_14", "value": 2.0, "contribution": 0.2},
    {"feature": "mood_mean_7", "value": 3.1, "contribution": 0.1},
]
GOOD_LLM = (
    "It sounds like the last few days may have been heavier than usual, and that is okay to "
    "notice. You do not have to handle it alone: a friend, someone you trust or your care "
    "team would be glad to hear from you."
)


def settings(**overrides: Any) -> RiskSettings:
    """Explicit about what the environment could otherwise set: no webhook, no LLM."""
    values: dict[str, Any] = {
        "risk_alert_backoff_s": 30.0,
        "risk_alert_webhook_url": None,
        "risk_alert_webhook_secret": None,
        "risk_openai_api_key": None,
        **overrides,
    }
    return RiskSettings(**values)


async def assessment(level: str, *, user: str | None = None, day: date = DAY) -> AssessmentRow:
    user = user or f"user-{uuid.uuid4().hex[:10]}"
    row = {
        "id": uuid.uuid4(),
        "subject_key": hashlib.sha256(user.encode()).hexdigest()[:64],
        "user_id": user,
        "day": day,
        "assessed_at": datetime.now(UTC),
        "score": {"low": 0.1, "medium": 0.4, "high": 0.7, "critical": 0.9}[level],
        "level": level,
        "coverage": 1.0,
        "low_coverage": False,
        "model_version": "rules-1",
        "top_features": TOP,
    }
    async with get_engine().begin() as conn:
        await conn.execute(insert(AssessmentRow), [row])
    return AssessmentRow(**row)


async def set_level(a: AssessmentRow, level: str) -> AssessmentRow:
    async with get_engine().begin() as conn:
        await conn.execute(
            text("UPDATE risk.assessments SET level = :l WHERE id = :id"), {"l": level, "id": a.id}
        )
    a.level = level
    return a


async def rows_of(user_id: str) -> list[InterventionRow]:
    async with get_engine().connect() as conn:
        found = await conn.execute(
            select(InterventionRow)
            .where(InterventionRow.user_id == user_id)
            .order_by(InterventionRow.kind)
        )
        return [InterventionRow(**dict(r._mapping)) for r in found]


async def row(id_: uuid.UUID) -> InterventionRow:
    async with get_engine().connect() as conn:
        found = await conn.execute(select(InterventionRow).where(InterventionRow.id == id_))
        return InterventionRow(**dict(found.one()._mapping))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- a local HTTP server: the webhook receiver, and the fake OpenAI -----------------------
class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.reply: dict[str, Any] = {"ok": True}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(receiver: Receiver, port: int = 0) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            data = json.dumps(receiver.reply).encode()
            self.send_response(receiver.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def chat_reply(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.fixture
def openai_fake() -> Iterator[tuple[Receiver, RiskSettings]]:
    fake = Receiver()
    with serving(fake) as url:
        yield fake, settings(risk_openai_api_key=SecretStr(KEY), risk_openai_base_url=f"{url}/v1")


# --- the policy ---------------------------------------------------------------------------
async def test_low_gets_nothing() -> None:
    a = await assessment("low")
    assert await intervene(get_engine(), settings(), a) is None
    assert await rows_of(a.user_id) == []


async def test_one_message_a_day_unless_critical(redis_url: str) -> None:
    a = await assessment("medium")
    first = await intervene(get_engine(), settings(), a)
    assert first is not None and (first.kind, first.level, first.source) == (
        "message",
        "medium",
        "template",
    )
    assert first.message in TEMPLATES["medium"] and first.delivery_status == "pending"
    assert await intervene(get_engine(), settings(), a) is None  # the same run again
    assert await intervene(get_engine(), settings(), await set_level(a, "high")) is None
    escalation = await intervene(get_engine(), settings(), await set_level(a, "critical"))
    assert escalation is not None and escalation.kind == "escalation"
    assert await intervene(get_engine(), settings(), a) is None  # critical once per assessment
    kinds = [(r.kind, r.level) for r in await rows_of(a.user_id)]
    assert sorted(kinds) == [("escalation", "critical"), ("message", "critical"),
                             ("message", "medium")]  # fmt: skip
    tomorrow = await assessment("medium", user=a.user_id, day=DAY + timedelta(days=1))
    again = await intervene(get_engine(), settings(), tomorrow)
    assert again is not None and again.day == DAY + timedelta(days=1)


async def test_concurrent_workers_make_one_message(redis_url: str) -> None:
    a = await assessment("high")
    results = await asyncio.gather(*(intervene(get_engine(), settings(), a) for _ in range(5)))
    assert sum(r is not None for r in results) == 1
    rows = await rows_of(a.user_id)
    assert [r.kind for r in rows] == ["message"]
    assert all(line in rows[0].message for line in CRISIS_RESOURCES)
    c = await assessment("critical")
    results = await asyncio.gather(*(intervene(get_engine(), settings(), c) for _ in range(4)))
    assert sorted(r.kind for r in results if r is not None) == ["escalation"]
    assert sorted(r.kind for r in await rows_of(c.user_id)) == ["escalation", "message"]


# --- alerts -------------------------------------------------------------------------------
def queued_alert_ids(redis_url: str) -> list[str]:
    """The intervention ids of risk.deliver_alert messages waiting on the risk queue."""
    import redis

    client = redis.Redis.from_url(redis_url)
    ids = []
    for raw in client.lrange("risk", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == "risk.deliver_alert":
            _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            ids.append(kwargs["intervention_id"])
    return ids


async def test_critical_alert_reaches_the_receiver_signed(redis_url: str) -> None:
    a = await assessment("critical")
    escalation = await intervene(get_engine(), settings(), a)
    assert escalation is not None and escalation.kind == "escalation"
    assert DISCLAIMER in escalation.message and "mood check-ins" in escalation.message
    assert str(escalation.id) in queued_alert_ids(redis_url)  # the task was queued for real

    receiver = Receiver()
    with serving(receiver) as url:
        s = settings(risk_alert_webhook_url=f"{url}/alerts",
                     risk_alert_webhook_secret=SecretStr(SECRET))  # fmt: skip
        assert await deliver_alert(get_engine(), s, str(escalation.id)) == "sent"
        assert await deliver_alert(get_engine(), s, escalation.id) == "sent"  # not posted again
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == expected
    assert headers["content-type"] == "application/json"
    sent = json.loads(body)
    assert sent["id"] == str(escalation.id) and sent["level"] == "critical"
    assert (sent["user_id"], sent["subject_key"]) == (a.user_id, a.subject_key)
    assert sent["crisis_resources"] == list(CRISIS_RESOURCES)
    assert sent["disclaimer"] == DISCLAIMER and "message" not in sent
    stored = await row(escalation.id)
    assert (stored.delivery_status, stored.attempts, stored.last_error) == ("sent", 1, None)
    assert stored.delivered_at is not None


async def test_receiver_down_is_retried_and_the_alert_not_lost(redis_url: str) -> None:
    escalation = await intervene(get_engine(), settings(), await assessment("critical"))
    assert escalation is not None
    port = _free_port()  # nothing listens there yet
    s = settings(risk_alert_webhook_url=f"http://127.0.0.1:{port}/alerts")
    for attempt in (1, 2):
        with pytest.raises(RetryableAlertError) as caught:
            await deliver_alert(get_engine(), s, escalation.id)
        assert caught.value.attempts == attempt
        stored = await row(escalation.id)
        assert (stored.delivery_status, stored.attempts) == ("pending", attempt)
        assert stored.last_error == "ConnectError"
    assert escalation.id in await unsent_alerts(get_engine(), older_than=timedelta(0))
    receiver = Receiver()
    with serving(receiver, port):
        assert await deliver_alert(get_engine(), s, escalation.id) == "sent"
    assert len(receiver.requests) == 1
    assert json.loads(receiver.requests[0][1])["id"] == str(escalation.id)
    assert SIGNATURE_HEADER.lower() not in receiver.requests[0][0]  # no secret, no signature
    stored = await row(escalation.id)
    assert (stored.delivery_status, stored.attempts, stored.last_error) == ("sent", 3, None)
    assert escalation.id not in await unsent_alerts(get_engine(), older_than=timedelta(0))


async def test_max_attempts_fail_and_keep_the_alert(redis_url: str) -> None:
    escalation = await intervene(get_engine(), settings(), await assessment("critical"))
    assert escalation is not None
    receiver = Receiver()
    receiver.status = 503
    before = metric("mindlake_risk_alerts_total", outcome="failed")
    with serving(receiver) as url:
        s = settings(risk_alert_webhook_url=url, risk_alert_max_attempts=2)
        with pytest.raises(RetryableAlertError):
            await deliver_alert(get_engine(), s, escalation.id)
        assert await deliver_alert(get_engine(), s, escalation.id) == "failed"
        assert await deliver_alert(get_engine(), s, escalation.id) == "failed"
    assert len(receiver.requests) == 2  # a failed alert is not posted again
    stored = await row(escalation.id)
    assert (stored.delivery_status, stored.attempts, stored.last_error) == ("failed", 2, "HTTP 503")
    assert metric("mindlake_risk_alerts_total", outcome="failed") == before + 1


async def test_no_webhook_keeps_it_pending(redis_url: str) -> None:
    escalation = await intervene(get_engine(), settings(), await assessment("critical"))
    assert escalation is not None
    before = metric("mindlake_risk_alerts_total", outcome="unconfigured")
    assert await deliver_alert(get_engine(), settings(), escalation.id) == "pending"
    stored = await row(escalation.id)
    assert (stored.delivery_status, stored.attempts) == ("pending", 0)
    assert stored.last_error == "no webhook configured"
    assert metric("mindlake_risk_alerts_total", outcome="unconfigured") == before + 1
    assert await deliver_alert(get_engine(), settings(), uuid.uuid4()) == "missing"
    message = next(r for r in await rows_of(escalation.user_id) if r.kind == "message")
    assert await deliver_alert(get_engine(), settings(), message.id) == "missing"  # not an alert


def test_retry_delay_doubles_and_is_capped() -> None:
    s = settings(risk_alert_backoff_s=30.0)
    assert [retry_delay(n, s) for n in (1, 2, 3, 4)] == [30.0, 60.0, 120.0, 240.0]
    assert retry_delay(12, s) == 3600.0


# --- templates and the LLM ----------------------------------------------------------------
def test_templates_pass_the_same_checks_and_are_stable() -> None:
    for level, texts in TEMPLATES.items():
        for i in range(len(texts)):
            message = template_message(level, uuid.UUID(int=i))
            assert llm.rejection(message, level) is None, (level, i)
            assert all(line in message for line in CRISIS_RESOURCES) == (level != "medium")
    chosen = {template_message("medium", uuid.UUID(int=i)) for i in range(40)}
    assert len(chosen) == len(TEMPLATES["medium"])  # every variant is used
    same = uuid.UUID(int=7)
    assert template_message("high", same) == template_message("high", same)
    assert llm.rejection("You have depression and should take medication.", "medium")
    assert llm.rejection(GOOD_LLM, "high") == "missing_resources"


async def test_llm_message_is_used_and_gets_no_user_data(
    openai_fake: tuple[Receiver, RiskSettings],
) -> None:
    fake, s = openai_fake
    fake.reply = chat_reply(GOOD_LLM)
    a = await assessment("medium")
    message = await intervene(get_engine(), s, a)
    assert message is not None and (message.source, message.message) == ("llm", GOOD_LLM)
    headers, body = fake.requests[0]
    assert headers["authorization"] == f"Bearer {KEY}"
    sent = json.loads(body)
    assert sent["model"] == "gpt-4o-mini"
    system, user = sent["messages"]
    assert system["role"] == "system" and "Never diagnose" in system["content"]
    assert "mood check-ins" in user["content"] and "the tone of recent entries" in user["content"]
    assert a.user_id not in body.decode() and a.subject_key not in body.decode()
    assert "crisis_hits" not in body.decode()  # plain areas only, never feature names


async def test_rejected_or_failed_llm_falls_back_to_a_template(
    openai_fake: tuple[Receiver, RiskSettings],
) -> None:
    fake, s = openai_fake
    fake.reply = chat_reply(
        "It sounds like you have depression, which is a common condition. Please talk to "
        "your doctor about medication, and remember that many people feel better with help."
    )
    before = metric("mindlake_risk_llm_fallbacks_total", reason="diagnostic")
    message = await intervene(get_engine(), s, await assessment("medium"))
    assert message is not None and message.source == "template"
    assert message.message in TEMPLATES["medium"]
    assert metric("mindlake_risk_llm_fallbacks_total", reason="diagnostic") == before + 1

    fake.reply = chat_reply(GOOD_LLM)  # fine words, but high needs the resources
    before = metric("mindlake_risk_llm_fallbacks_total", reason="missing_resources")
    message = await intervene(get_engine(), s, await assessment("high"))
    assert message is not None and message.source == "template"
    assert all(line in message.message for line in CRISIS_RESOURCES)
    assert metric("mindlake_risk_llm_fallbacks_total", reason="missing_resources") == before + 1

    fake.status, fake.reply = 500, {"error": {"message": "boom", "type": "server_error"}}
    before = metric("mindlake_risk_llm_fallbacks_total", reason="error")
    message = await intervene(get_engine(), s, await assessment("medium"))
    assert message is not None and message.source == "template"
    assert metric("mindlake_risk_llm_fallbacks_total", reason="error") == before + 1


# --- the endpoints ------------------------------------------------------------------------
@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


async def _key(scopes: list[str]) -> str:
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"test-{uuid.uuid4().hex[:6]}", scopes=scopes, services=["*"]
        )
        await session.commit()
    return key


@pytest.fixture
async def admin() -> AsyncIterator[httpx.AsyncClient]:
    app = service_app("risk-interventions-test", _no_lifespan)
    app.include_router(router)
    key = await _key([Scope.ADMIN])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://risk",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        yield http


async def _audited(asset: str, subject: str) -> int:
    async with get_engine().connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(text("common.audit_outbox"))
            .where(text("asset = :a AND subject = :s"))
            .params(a=asset, s=subject)
        )
        return int(count or 0)


async def test_record_response(admin: httpx.AsyncClient, redis_url: str) -> None:
    a = await assessment("critical")
    escalation = await intervene(get_engine(), settings(), a)
    assert escalation is not None
    message = next(r for r in await rows_of(a.user_id) if r.kind == "message")
    url = f"/v1/interventions/{message.id}/response"
    reply = await admin.post(url, json={"response": "helpful"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["user_response"] == "helpful" and reply.json()["responded_at"]
    stored = await row(message.id)
    assert stored.user_response == "helpful" and stored.responded_at is not None
    assert await _audited(f"risk.interventions/{message.id}", a.user_id) == 1

    bad = await admin.post(url, json={"response": "maybe"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["field"] == "response"
    extra = await admin.post(url, json={"response": "helpful", "note": "x"})
    assert extra.status_code == 422
    unknown = await admin.post(f"/v1/interventions/{uuid.uuid4()}/response",
                               json={"response": "accepted"})  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["title"] == "Not found"
    assert (await admin.post("/v1/interventions/not-a-uuid/response",
                             json={"response": "accepted"})).status_code == 422  # fmt: skip
    on_escalation = await admin.post(f"/v1/interventions/{escalation.id}/response",
                                     json={"response": "accepted"})  # fmt: skip
    assert on_escalation.status_code == 409

    ingest_only = await _key(["ingest:write"])
    refused = await admin.post(url, json={"response": "dismissed"},
                               headers={"Authorization": f"Bearer {ingest_only}"})  # fmt: skip
    assert refused.status_code == 403
    assert (await row(message.id)).user_response == "helpful"


async def test_list_interventions_newest_first(admin: httpx.AsyncClient, redis_url: str) -> None:
    first = await assessment("medium")
    await intervene(get_engine(), settings(), first)
    later = await assessment("critical", user=first.user_id, day=DAY + timedelta(days=1))
    await intervene(get_engine(), settings(), later)
    reply = await admin.get(f"/v1/users/{first.user_id}/interventions")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["disclaimer"] == DISCLAIMER
    items = body["items"]
    assert len(items) == 3 and items[-1]["level"] == "medium"
    times = [i["created_at"] for i in items]
    assert times == sorted(times, reverse=True)
    limited = await admin.get(f"/v1/users/{first.user_id}/interventions", params={"limit": 1})
    assert len(limited.json()["items"]) == 1 and limited.json()["items"][0]["level"] == "critical"
    assert (await admin.get(f"/v1/users/{first.user_id}/interventions",
                            params={"limit": 0})).status_code == 422  # fmt: skip
    assert await _audited("risk.interventions", first.user_id) == 2
    nobody = await admin.get("/v1/users/nobody-here/interventions")
    assert nobody.status_code == 200 and nobody.json()["items"] == []
