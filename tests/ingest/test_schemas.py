"""Entries in the shapes services really send (issue 10, item 7) and user ids that are
personal data (item 10), through the real ingest app: POST /v1/logs and the Segment routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from libs.common.db import get_engine
from services.ingest.config import get_ingest_settings
from tests import factories

LEAKY_EMAIL = "leaktest123@example.org"
PHONE_ID = "4155552671"  # a US number, digits only (the id pattern allows no + or spaces)


async def stored(event_id: str) -> dict[str, Any]:
    """The outbox payload of an accepted entry."""
    async with get_engine().connect() as conn:
        payload = await conn.scalar(
            text("SELECT payload FROM ingest.outbox WHERE event_id = :id"), {"id": event_id}
        )
    assert payload is not None, f"{event_id} was not stored"
    return dict(orjson.loads(payload))


async def accept_one(client: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """Post one entry, assert it was accepted, and return what the outbox holds."""
    reply = await client.post("/v1/logs", json={"entries": [entry]})
    assert reply.status_code == 202, reply.text
    assert reply.json()["accepted"] == 1, reply.json()["errors"]
    return await stored(reply.json()["event_ids"][0])


async def rejection(client: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """Post one bad entry beside a good one; return the bad one's error (the good one lands)."""
    reply = await client.post("/v1/logs", json={"entries": [factories.mood(), entry]})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert (body["accepted"], body["rejected"]) == (1, 1), body
    assert body["errors"][0]["index"] == 1
    return dict(body["errors"][0])


# -- item 7: the shapes services really send ----------------------------------------------


async def test_a_journal_mood_sent_as_a_1_to_10_number_is_its_mood_score(client: Any) -> None:
    payload = await accept_one(client, factories.journal(mood=7, event_id="j-mood-7"))
    assert payload["mood_score"] == 7
    assert "mood" not in payload  # no label was sent
    labelled = await accept_one(client, factories.journal(mood="calm", event_id="j-calm"))
    assert labelled["mood"] == "calm" and "mood_score" not in labelled


async def test_a_journal_mood_number_off_the_scale_is_kept_as_its_label(client: Any) -> None:
    payload = await accept_one(client, factories.journal(mood=42, event_id="j-mood-42"))
    assert payload["mood"] == "42" and "mood_score" not in payload


async def test_a_journal_mood_score_out_of_range_is_rejected_by_name(client: Any) -> None:
    error = await rejection(client, factories.journal(mood_score=11))
    assert error["field"] == "mood_score"
    assert "less than or equal to 10" in error["reason"]


async def test_a_mood_check_in_that_sends_its_score_as_mood_is_accepted(client: Any) -> None:
    entry = factories.mood(event_id="m-mood-only")
    del entry["score"]
    entry["mood"] = 4
    payload = await accept_one(client, entry)
    assert payload["score"] == 4


async def test_an_auth_event_named_by_event_type_takes_its_action(client: Any) -> None:
    entry = factories.auth(event_type="user.login", event_id="a-login")
    del entry["action"]
    payload = await accept_one(client, entry)
    assert (payload["action"], payload["event_type"], payload["success"]) == (
        "login",
        "user.login",
        True,
    )


async def test_a_failed_login_named_by_event_type_is_not_a_success(client: Any) -> None:
    entry = factories.auth(event_type="login_failed", event_id="a-login-failed")
    del entry["action"]
    payload = await accept_one(client, entry)
    assert (payload["action"], payload["success"]) == ("login_failed", False)


async def test_an_action_synonym_is_taken_for_its_action(client: Any) -> None:
    auth = await accept_one(client, factories.auth(action="Sign-In", event_id="a-sign-in"))
    assert auth["action"] == "login"
    refund = factories.payment(event_id="p-refund")
    del refund["action"]
    refund["event_type"] = "charge.refunded"  # Stripe's name
    assert (await accept_one(client, refund))["action"] == "refund"
    community = await accept_one(client, factories.community(action="liked", event_id="c-liked"))
    assert community["action"] == "reaction"


async def test_an_event_type_that_names_no_action_is_still_required(client: Any) -> None:
    entry = factories.community(event_type="delete_post")  # not post: cannot be meant
    del entry["action"]
    error = await rejection(client, entry)
    assert error == {"index": 1, "field": "action", "reason": "Field required"}


async def test_an_unknown_action_is_rejected_with_the_known_ones(client: Any) -> None:
    error = await rejection(client, factories.auth(action="hack"))
    assert error["field"] == "action"
    assert "'login'" in error["reason"] and "'signup'" in error["reason"]


async def test_secondary_fields_in_unambiguous_forms_are_accepted(client: Any) -> None:
    chat = await accept_one(
        client,
        factories.chat(
            conversation_id=9001, message_id=17, sender_role="Therapist", event_id="ch-forms"
        ),
    )
    assert (chat["conversation_id"], chat["message_id"]) == ("9001", "17")
    assert chat["sender_role"] == "therapist"
    journal = await accept_one(client, factories.journal(tags="work", event_id="j-tag"))
    assert journal["tags"] == ["work"]
    mood = await accept_one(client, factories.mood(score="7", event_id="m-score-text"))
    assert mood["score"] == 7
    bot = await accept_one(
        client, factories.lyfbot(latency_ms=812.6, confidence_score="0.8", event_id="l-forms")
    )
    assert (bot["latency_ms"], bot["confidence_score"]) == (813, 0.8)
    auth = await accept_one(client, factories.auth(success="false", event_id="a-success"))
    assert auth["success"] is False
    pay = await accept_one(
        client, factories.payment(event_id="p-forms") | {"amount": 0.1 + 0.2, "currency": "usd"}
    )
    assert (pay["amount"], pay["currency"]) == ("0.30", "USD")


async def test_numeric_ids_are_their_decimal_text(client: Any) -> None:
    payload = await accept_one(client, factories.mood() | {"user_id": 12345, "event_id": 987654321})
    assert (payload["user_id"], payload["event_id"]) == ("12345", "987654321")
    error = await rejection(client, factories.mood() | {"user_id": 12.5})
    assert error["field"] == "user_id"


@pytest.mark.parametrize(
    ("sent", "iso"),
    [
        (1_763_649_022, "2025-11-20T14:30:22Z"),  # epoch seconds
        (1_763_649_022_500, "2025-11-20T14:30:22.500000Z"),  # milliseconds
        (1_763_649_022_500_000, "2025-11-20T14:30:22.500000Z"),  # microseconds
        (1_763_649_022_500_000_000, "2025-11-20T14:30:22.500000Z"),  # nanoseconds
        ("2025-11-20T14:30:22Z", "2025-11-20T14:30:22Z"),
        ("2025-11-20 16:30:22+02:00", "2025-11-20T14:30:22Z"),
        ("Thu, 20 Nov 2025 14:30:22 GMT", "2025-11-20T14:30:22Z"),  # an HTTP date
    ],
)
async def test_timestamps_in_every_common_form(client: Any, sent: object, iso: str) -> None:
    payload = await accept_one(client, factories.mood(timestamp=sent))
    assert payload["timestamp"] == iso


async def test_what_cannot_be_meant_is_still_rejected_by_field(client: Any) -> None:
    cases = [
        (factories.mood(score=7.5), "score"),
        (factories.journal(mood=True), "mood"),
        (factories.payment() | {"amount": 19.999}, "amount"),
        (factories.payment() | {"currency": "dollars"}, "currency"),
        (factories.chat(sender_role="assistant"), "sender_role"),
        (factories.lyfbot(confidence_score=93), "confidence_score"),
        (factories.mood(timestamp="next tuesday"), "timestamp"),
        (factories.mood(user_id="not a valid id!"), "user_id"),
    ]
    reply = await client.post("/v1/logs", json={"entries": [entry for entry, _ in cases]})
    assert reply.status_code == 422, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == [field for _, field in cases]


# -- item 10: user ids that are personal data ---------------------------------------------


@pytest.fixture
def contact_ids_allowed() -> Iterator[None]:
    settings = get_ingest_settings()
    before = settings.allow_contact_user_ids
    settings.allow_contact_user_ids = True
    yield
    settings.allow_contact_user_ids = before


async def test_an_email_user_id_is_refused_and_says_why(client: Any) -> None:
    reply = await client.post("/v1/logs", json=factories.mood(user_id=LEAKY_EMAIL))
    assert reply.status_code == 422
    assert reply.headers["content-type"].startswith("application/problem+json")
    [error] = reply.json()["errors"]
    assert error["field"] == "user_id"
    assert "e-mail address" in error["reason"] and "opaque" in error["reason"]
    assert LEAKY_EMAIL not in reply.text  # the reason never echoes the value
    async with get_engine().connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM ingest.outbox")) == 0


async def test_a_phone_number_user_id_is_refused(client: Any) -> None:
    error = await rejection(client, factories.mood(user_id=PHONE_ID))
    assert error["field"] == "user_id"
    assert "phone number" in error["reason"]


async def test_an_opaque_user_id_is_accepted(client: Any) -> None:
    for user_id in ("u_8f14e45fce", "3f2b8c1e-6a4d-4c3e-9b1f-2d7e8a9c0b11", "12345"):
        payload = await accept_one(client, factories.mood(user_id=user_id))
        assert payload["user_id"] == user_id


async def test_the_setting_allows_contact_user_ids(client: Any, contact_ids_allowed: None) -> None:
    payload = await accept_one(client, factories.mood(user_id=LEAKY_EMAIL))
    assert payload["user_id"] == LEAKY_EMAIL
    assert (await accept_one(client, factories.mood(user_id=PHONE_ID)))["user_id"] == PHONE_ID


async def test_segment_ids_that_are_contacts_are_refused(client: Any) -> None:
    batch = [
        {"type": "track", "event": "Opened", "userId": LEAKY_EMAIL},
        {"type": "track", "event": "Opened", "anonymousId": LEAKY_EMAIL},
        {"type": "track", "event": "Opened", "userId": "u_1", "anonymousId": LEAKY_EMAIL},
        {"type": "alias", "userId": "u_1", "previousId": PHONE_ID},
        {"type": "track", "event": "Opened", "userId": "u_1", "anonymousId": "dev-7"},
    ]
    reply = await client.post("/v1/batch", json={"batch": batch})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["accepted"], body["rejected"]) == (1, 4)
    fields = [(e["index"], e["field"]) for e in body["errors"]]
    assert fields == [(0, "user_id"), (1, "user_id"), (2, "anonymousId"), (3, "previousId")]
    assert all("opaque" in e["reason"] for e in body["errors"])
    assert "e-mail address" in body["errors"][1]["reason"]  # anon:<e-mail> is one too
    assert LEAKY_EMAIL not in reply.text


async def test_a_single_segment_call_with_an_email_user_id_is_a_400(client: Any) -> None:
    reply = await client.post("/v1/track", json={"event": "Opened", "userId": LEAKY_EMAIL})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == "user_id"
