"""Issue 10, ingest intake: no input makes these routes answer 500.

NUL characters in rejected entries (logs, every Segment route, an unknown `service`) are
kept with a stand-in, and a Content-Length of non-ASCII digits is no 500.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from libs.common.validation import NUL_STAND_IN
from services.ingest.deadletters import service as deadletter
from services.ingest.segment.service import CALLS
from tests import factories
from tests.ingest.hardening_support import NUL, outbox_ids
from tests.ingest.test_deadletter import dl_client, stored

__all__ = ["dl_client"]  # fixture, shared with test_deadletter


# --- NUL characters ------------------------------------------------------------------------


async def test_a_nul_in_a_rejected_entry_does_not_fail_the_valid_one(dl_client: Any) -> None:
    good = factories.mood(event_id=f"ok-{uuid.uuid4().hex[:8]}")
    bad = factories.journal(text=f"before{NUL}after", timestamp="not a time")
    reply = await dl_client.post("/v1/logs", json={"entries": [good, bad]})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert [e["index"] for e in body["errors"]] == [1]
    assert body["event_ids"][0] == good["event_id"]
    assert good["event_id"] in await outbox_ids()
    (row,) = await stored()
    assert orjson.loads(row["payload"])["text"] == f"before{NUL_STAND_IN}after"
    assert row["service"] == "journal-service"


async def test_a_single_invalid_entry_with_a_nul_is_a_422(dl_client: Any) -> None:
    reply = await dl_client.post("/v1/logs", json=factories.mood(score=11, note=f"a{NUL}b"))
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["errors"][0]["field"] == "score"
    assert reply.json()["detail"] == "no entry was accepted"  # and it was kept
    (row,) = await stored()
    assert orjson.loads(row["payload"])["note"] == f"a{NUL_STAND_IN}b"


async def test_a_nul_in_the_keys_of_a_rejected_entry_is_kept_as_a_stand_in(
    dl_client: Any,
) -> None:
    bad = {**factories.mood(score=0), f"k{NUL}": {f"n{NUL}": [f"v{NUL}"]}}
    reply = await dl_client.post("/v1/logs", json={"entries": [factories.mood(), bad]})
    assert reply.status_code == 202, reply.text
    (row,) = await stored()
    assert orjson.loads(row["payload"])[f"k{NUL_STAND_IN}"] == {
        f"n{NUL_STAND_IN}": [f"v{NUL_STAND_IN}"]
    }


async def test_an_unknown_service_holding_a_nul_is_rejected_not_a_500(dl_client: Any) -> None:
    tag = f"spam{NUL}service"
    entries = [factories.mood(), {**factories.mood(), "service": tag}]
    reply = await dl_client.post("/v1/logs", json={"entries": entries})
    assert reply.status_code == 202, reply.text
    (error,) = reply.json()["errors"]
    assert error["field"] == "service"
    assert NUL not in error["reason"]
    assert "unknown service 'spam\\x00service'" in error["reason"]  # escaped, as repr shows it
    (row,) = await stored()
    assert (row["error_kind"], row["service"]) == ("unknown_service", None)
    assert orjson.loads(row["payload"])["service"] == f"spam{NUL_STAND_IN}service"
    assert NUL not in row["reason"]


async def test_an_unknown_service_is_echoed_no_longer_than_64_characters(
    dl_client: Any,
) -> None:
    tag = "z" * 5000
    reply = await dl_client.post("/v1/logs", json={**factories.mood(), "service": tag})
    assert reply.status_code == 422
    reason = reply.json()["errors"][0]["reason"]
    assert "z" * 64 + "…" in reason
    assert "z" * 65 not in reason


async def test_a_nul_in_a_rejected_entry_is_kept_from_every_path(dl_client: Any) -> None:
    """What another path (a CSV header naming a column with a NUL) hands to `record`."""
    await deadletter.record(
        [
            deadletter.DeadLetterIn(
                source=f"csv{NUL}",
                payload=f"raw,line{NUL},here",
                reason=f"row 3: bad value in col{NUL}",
                field=f"col{NUL}",
                key_id="k1",
            )
        ]
    )
    (row,) = await stored()
    assert orjson.loads(row["payload"]) == f"raw,line{NUL_STAND_IN},here"
    assert row["reason"] == f"row 3: bad value in col{NUL_STAND_IN}"
    assert row["field"] == f"col{NUL_STAND_IN}"
    assert row["source"] == f"csv{NUL_STAND_IN}"


def _segment_message(user: str | None = "u_seg_1") -> dict[str, Any]:
    """A message no call accepts (no `event`, no `previousId`, a bad timestamp), with NULs."""
    message: dict[str, Any] = {
        "properties": {"note": f"a{NUL}b"},
        "traits": {f"k{NUL}": "v"},
        "timestamp": f"not a time{NUL}",
    }
    if user is not None:
        message["userId"] = user
    return message


async def test_segment_batch_with_a_nul_answers_200_with_the_rejection(dl_client: Any) -> None:
    good = {"type": "track", "event": "Opened", "userId": "u_seg_1", "messageId": "m-ok-1"}
    bad = {**_segment_message(), "type": "track"}
    reply = await dl_client.post("/v1/batch", json={"batch": [good, bad]})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["success"], body["accepted"], body["rejected"]) == (True, 1, 1)
    assert "m-ok-1" in await outbox_ids()
    (row,) = await stored()
    assert row["source"] == "segment"
    assert orjson.loads(row["payload"])["properties"]["note"] == f"a{NUL_STAND_IN}b"


@pytest.mark.parametrize("call", CALLS)
async def test_every_segment_call_with_a_nul_is_a_400_not_a_500(dl_client: Any, call: str) -> None:
    reply = await dl_client.post(f"/v1/{call}", json=_segment_message())
    assert reply.status_code == 400, reply.text
    assert reply.json()["success"] is False
    assert reply.json()["errors"]
    (row,) = await stored()
    assert orjson.loads(row["payload"])["type"] == call
    assert NUL not in row["payload"].replace("\\u0000", NUL)  # the JSON text has no \u0000


async def test_segment_batch_with_an_unknown_service_nul_is_200(dl_client: Any) -> None:
    """Segment sets `service` itself: a NUL can reach the store only through the message."""
    bad = {"type": "identify", "userId": f"u{NUL}1", "traits": {"x": NUL}}
    good = {"type": "identify", "userId": "u_seg_2", "messageId": "m-ok-2"}
    reply = await dl_client.post("/v1/batch", json={"batch": [good, bad]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["rejected"] == 1
    (row,) = await stored()
    assert orjson.loads(row["payload"])["userId"] == f"u{NUL_STAND_IN}1"


async def test_a_content_length_of_non_ascii_digits_is_not_a_500(dl_client: Any) -> None:
    body = orjson.dumps(factories.mood())
    for declared, status in (("²", 202), ("٣", 202), ("1" * 5000, 413), (str(2**64), 413)):
        reply = await dl_client.post(
            "/v1/logs",
            content=body,
            headers={"Content-Type": "application/json", "Content-Length": declared.encode()},
        )
        assert reply.status_code == status, (declared, reply.text)
