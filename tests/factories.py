"""Realistic log entries per source service, for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

fake = Faker("en_US")
Faker.seed(7)


def _base(
    service: str,
    user_id: str | None = None,
    defaults: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An entry of `service`: `defaults` first, then the caller's `fields` win."""
    entry: dict[str, Any] = {
        "service": service,
        "user_id": user_id or f"u_{uuid.uuid4().hex[:10]}",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=fake.random_int(0, 600))).isoformat(),
    }
    entry.update(defaults or {})
    entry.update(fields)
    return entry


def lyfbot(user_id: str | None = None, **fields: Any) -> dict[str, Any]:
    defaults = {
        "interaction_type": "response",
        "prompt": "I'm feeling anxious about work",
        "response": "I hear that work is causing you anxiety. Shall we try a breathing exercise?",
        "model": "gpt-4-turbo",
        "session_id": f"sess_{uuid.uuid4().hex[:8]}",
        "conversation_id": f"conv_{uuid.uuid4().hex[:8]}",
        "intent": "mood_check",
        "confidence_score": 0.93,
    }
    return _base("lyfbot-service", user_id, defaults, **fields)


def journal(user_id: str | None = None, text: str | None = None, **fields: Any) -> dict[str, Any]:
    return _base(
        "journal-service", user_id, {"text": text or fake.paragraph(), "mood": "calm"}, **fields
    )


def mood(user_id: str | None = None, score: int = 6, **fields: Any) -> dict[str, Any]:
    return _base("mood-service", user_id, {"score": score, "mood": "okay"}, **fields)


def auth(user_id: str | None = None, **fields: Any) -> dict[str, Any]:
    defaults = {
        "action": "signup",
        "email": fake.email(),
        "name": fake.name(),
        "phone": fake.phone_number(),
        "ip_address": fake.ipv4(),
    }
    return _base("auth-service", user_id, defaults, **fields)


def payment(user_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return _base(
        "payment-service",
        user_id,
        action="charge",
        amount="19.99",
        currency="USD",
        plan="premium",
        **fields,
    )


def chat(user_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return _base(
        "chat-service", user_id, {"conversation_id": "c1", "message": fake.sentence()}, **fields
    )


def community(user_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return _base(
        "community-service", user_id, {"action": "post", "content": fake.sentence()}, **fields
    )


def ai(user_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return _base(
        "ai-service",
        user_id,
        prompt=fake.sentence(),
        response=fake.sentence(),
        model="gpt-4o-mini",
        **fields,
    )


ALL = [lyfbot, journal, mood, auth, payment, chat, community, ai]
