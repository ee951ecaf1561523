"""Issue 10, ingest intake and dead letters: no input makes these routes answer 500, and
once accepted entries are committed the reply reports them whatever fails after.

Each example of the issue is a test here: NUL characters in rejected entries (logs, every
Segment route, an unknown `service`), ids and cursors Postgres cannot compare, a dead-letter
store that refuses to write, and an erased user's late rejected entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, text

from libs.common.db import get_engine
from libs.common.settings import get_settings
from libs.common.subjects import subject_key
from libs.common.validation import NUL_STAND_IN
from services.ingest.deadletters import service as deadletter
from services.ingest.segment.service import CALLS
from tests import factories
from tests.ingest.test_deadletter import admin, dl_client, stored

__all__ = ["admin", "dl_client"]  # fixtures, shared with test_deadletter

NUL = "\x00"
BIG = 2**63  # one past Postgres' bigint


async def outbox_ids() -> set[str]:
    async with get_engine().connect() as conn:
        return set((await conn.scalars(text("SELECT event_id FROM ingest.outbox"))).all())


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


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


# --- dead-letter routes: values Postgres cannot compare ------------------------------------


@pytest.mark.parametrize("dead_letter_id", [BIG, 10**30, 0, -1])
async def test_a_dead_letter_id_that_cannot_exist_is_a_404(
    dl_client: Any, admin: dict[str, str], dead_letter_id: int
) -> None:
    for reply in (
        await dl_client.get(f"/v1/dead-letters/{dead_letter_id}", headers=admin),
        await dl_client.post(f"/v1/dead-letters/{dead_letter_id}/discard", headers=admin),
    ):
        assert reply.status_code == 404, reply.text
        assert reply.headers["content-type"] == "application/problem+json"


async def test_a_dead_letter_id_that_is_not_a_number_is_a_422(
    dl_client: Any, admin: dict[str, str]
) -> None:
    for path in ("/v1/dead-letters/abc", "/v1/dead-letters/" + "9" * 5000):
        reply = await dl_client.get(path, headers=admin)
        assert reply.status_code == 422, reply.text
        assert reply.json()["errors"][0]["field"] == "dead_letter_id"


@pytest.mark.parametrize(
    "cursor", ["é", "²", "٣", "12a", "-5", "", str(BIG), "9" * 40, "1\x00", " 7"]
)
async def test_a_cursor_we_did_not_issue_is_a_422_naming_it(
    dl_client: Any, admin: dict[str, str], cursor: str
) -> None:
    reply = await dl_client.get("/v1/dead-letters", params={"cursor": cursor}, headers=admin)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in reply.json()["errors"]] == ["cursor"]


async def test_the_largest_cursor_is_a_page(dl_client: Any, admin: dict[str, str]) -> None:
    await dl_client.post("/v1/logs", json=factories.mood(score=0))
    reply = await dl_client.get("/v1/dead-letters", params={"cursor": str(BIG - 1)}, headers=admin)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["items"]) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("source", f"logs{NUL}"),
        ("reason", f"missing{NUL}"),
        ("service", f"mood{NUL}"),
        ("source", "x" * 33),
        ("service", "x" * 65),
        ("reason", "x" * 1001),
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "-1"),
        ("limit", str(10**40)),
        ("status", "lost"),
        ("since", "not a time"),
    ],
)
async def test_bad_list_filters_are_a_422_naming_the_field(
    dl_client: Any, admin: dict[str, str], name: str, value: str
) -> None:
    reply = await dl_client.get("/v1/dead-letters", params={name: value}, headers=admin)
    assert reply.status_code == 422, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == [name]


async def test_extreme_times_in_the_list_filter_are_not_a_500(
    dl_client: Any, admin: dict[str, str]
) -> None:
    for since in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01"):
        reply = await dl_client.get("/v1/dead-letters", params={"since": since}, headers=admin)
        assert reply.status_code in (200, 422), reply.text
        if reply.status_code == 422:
            assert reply.json()["errors"][0]["field"] == "since"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": [BIG]}, "ids[0]"),
        ({"ids": [1, 10**30]}, "ids[1]"),
        ({"ids": [-1]}, "ids[0]"),
        ({"ids": []}, "ids"),
        ({"ids": list(range(1, 1002))}, "ids"),
        ({"filter": {"source": f"logs{NUL}"}}, "filter.source"),
        ({"filter": {"reason": f"x{NUL}"}}, "filter.reason"),
        ({"filter": {"service": f"x{NUL}"}}, "filter.service"),
        ({"filter": {}, "limit": 10**30}, "limit"),
        ({"filter": {}, "limit": 0}, "limit"),
    ],
)
async def test_bad_replay_requests_are_a_422_naming_the_field(
    dl_client: Any, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    reply = await dl_client.post("/v1/dead-letters/replay", json=body, headers=admin)
    assert reply.status_code == 422, reply.text
    assert field in [e["field"] for e in reply.json()["errors"]]


async def test_replay_of_the_largest_id_reports_it_not_found(
    dl_client: Any, admin: dict[str, str]
) -> None:
    reply = await dl_client.post("/v1/dead-letters/replay", json={"ids": [BIG - 1]}, headers=admin)
    assert reply.status_code == 200, reply.text
    assert reply.json()["results"] == [
        {"id": BIG - 1, "outcome": "not_found", "event_id": None, "errors": []}
    ]


async def test_a_replayed_nul_entry_lands_with_the_stand_in(
    dl_client: Any, admin: dict[str, str]
) -> None:
    """A dead letter kept with ␀ is still an entry: once fixed it replays."""
    reply = await dl_client.post(
        "/v1/logs", json=factories.mood(score=11, note=f"a{NUL}b", event_id="nul-replay-1")
    )
    assert reply.status_code == 422
    (row,) = await stored()
    async with get_engine().begin() as conn:  # the fix: an operator corrects the score
        await conn.execute(
            text("UPDATE ingest.dead_letters SET payload = jsonb_set(payload, '{score}', '5')")
        )
    reply = await dl_client.post(
        "/v1/dead-letters/replay", json={"ids": [row["id"]]}, headers=admin
    )
    assert reply.json()["replayed"] == 1, reply.text
    async with get_engine().connect() as conn:
        payload = await conn.scalar(
            text("SELECT payload FROM ingest.outbox WHERE event_id = 'nul-replay-1'")
        )
    assert orjson.loads(payload)["note"] == f"a{NUL_STAND_IN}b"


# --- the reply contract: what was committed is reported, whatever fails after --------------


FAILURES = "mindlake_ingest_dead_letter_failures_total"


async def test_a_failing_dead_letter_store_never_fails_the_accepted_entries(
    dl_client: Any, refusing_dead_letter_store: None
) -> None:
    good = factories.mood(event_id=f"kept-{uuid.uuid4().hex[:8]}")
    before = sample(FAILURES, source="logs")
    reply = await dl_client.post("/v1/logs", json={"entries": [good, factories.mood(score=0)]})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["event_ids"] == [good["event_id"], None]
    assert body["errors"][0]["field"] == "score"
    assert good["event_id"] in await outbox_ids()
    assert await stored() == []  # refused, for real
    assert sample(FAILURES, source="logs") == before + 1


async def test_a_failing_dead_letter_store_with_nothing_accepted_is_a_clear_422(
    dl_client: Any, refusing_dead_letter_store: None
) -> None:
    before = sample(FAILURES, source="logs")
    reply = await dl_client.post("/v1/logs", json={"entries": [factories.mood(score=0)]})
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert "could not be kept in the dead-letter store" in body["detail"]
    assert body["errors"][0]["field"] == "score"
    assert sample(FAILURES, source="logs") == before + 1


async def test_a_failing_dead_letter_store_never_fails_a_segment_batch(
    dl_client: Any, refusing_dead_letter_store: None
) -> None:
    good = {"type": "track", "event": "Opened", "userId": "u_seg_3", "messageId": "m-ok-3"}
    reply = await dl_client.post("/v1/batch", json={"batch": [good, {"type": "track"}]})
    assert reply.status_code == 200, reply.text
    assert (reply.json()["accepted"], reply.json()["rejected"]) == (1, 1)
    assert "m-ok-3" in await outbox_ids()


async def test_a_failed_dead_letter_store_is_logged_without_data(
    dl_client: Any, refusing_dead_letter_store: None, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cret-journal-words"
    bad = factories.journal(text=secret, timestamp="not a time", user_id="u_logged_1")
    await dl_client.post("/v1/logs", json={"entries": [factories.mood(), bad]})
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "dead_letters_not_stored" in logged
    assert secret not in logged
    assert "u_logged_1" not in logged
    assert "refused by the test" not in logged  # the database's message is not logged


# --- an erased user's late entries reach no store ------------------------------------------


async def tombstone(user_id: str) -> None:
    """What an erasure leaves in the consent ledger: the keyed hash, no identifier."""
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
                " VALUES (:s, :r, now()) ON CONFLICT DO NOTHING"
            ),
            {"s": subject_key(user_id, get_settings()), "r": str(uuid.uuid4())},
        )


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL statements the app's engine runs through SQLAlchemy, as they are sent."""
    seen: list[str] = []

    def before(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", before)
    yield seen
    event.remove(engine, "before_cursor_execute", before)


REFUSED = "mindlake_ingest_dead_letters_refused_erased_total"


async def test_an_erased_users_late_rejected_entries_are_not_dead_lettered(
    dl_client: Any, statements: list[str]
) -> None:
    gone, anon, kept = (f"u_{what}_{uuid.uuid4().hex[:8]}" for what in ("gone", "anon", "kept"))
    await tombstone(gone)
    await tombstone(f"anon:{anon}")
    before = {s: sample(REFUSED, source=s) for s in ("logs", "segment")}
    entries = [
        factories.mood(user_id=gone, score=0),
        factories.journal(user_id=gone, timestamp="not a time"),
        factories.mood(user_id=kept, score=0),
        factories.mood(user_id=gone),  # valid: the flush refuses it (test_flush)
    ]
    reply = await dl_client.post("/v1/logs", json={"entries": entries})
    assert reply.status_code == 202, reply.text
    assert reply.json()["rejected"] == 3  # the reply is the same: the entries are invalid
    reads = [s for s in statements if "FROM consent.tombstones" in s]
    assert len(reads) == 1  # one query for the whole batch

    batch = [
        {"type": "track", "userId": gone},  # no event
        {"type": "track", "anonymousId": anon},
        {"type": "track", "userId": kept, "anonymousId": anon},
    ]
    reply = await dl_client.post("/v1/batch", json={"batch": batch})
    assert reply.status_code == 400, reply.text

    rows = await stored()
    assert len(rows) == 1
    assert kept in rows[0]["payload"]
    everything = " ".join(str(r) for r in rows)
    assert gone not in everything
    assert anon not in everything
    assert sample(REFUSED, source="logs") == before["logs"] + 2
    assert sample(REFUSED, source="segment") == before["segment"] + 3


async def test_record_refuses_erased_users_for_other_paths_too(dl_client: Any) -> None:
    """CSV rows and pulled records reach the store through `record` as well."""
    gone = f"u_csv_gone_{uuid.uuid4().hex[:8]}"
    await tombstone(gone)
    stored_count = await deadletter.record(
        [
            deadletter.DeadLetterIn(source="csv", payload={"user_id": gone, "x": 1}, reason="r"),
            deadletter.DeadLetterIn(source="csv", payload={"user_id": "u_other"}, reason="r"),
            deadletter.DeadLetterIn(source="csv", payload="a raw, unparsed line", reason="r"),
        ]
    )
    assert stored_count == 2
    assert gone not in str(await stored())


async def test_the_happy_path_queries_neither_tombstones_nor_dead_letters(
    dl_client: Any, statements: list[str]
) -> None:
    reply = await dl_client.post("/v1/logs", json={"entries": [factories.mood(), factories.chat()]})
    assert reply.status_code == 202, reply.text
    assert reply.json()["accepted"] == 2
    assert not [s for s in statements if "tombstones" in s or "dead_letters" in s]


async def test_rejections_naming_no_user_skip_the_tombstone_query(
    dl_client: Any, statements: list[str]
) -> None:
    reply = await dl_client.post("/v1/logs", json={"entries": [factories.mood(), ["not", 1]]})
    assert reply.status_code == 202, reply.text
    assert not [s for s in statements if "tombstones" in s]
    assert len(await stored()) == 1


async def test_a_content_length_of_non_ascii_digits_is_not_a_500(dl_client: Any) -> None:
    body = orjson.dumps(factories.mood())
    for declared, status in (("²", 202), ("٣", 202), ("1" * 5000, 413), (str(2**64), 413)):
        reply = await dl_client.post(
            "/v1/logs",
            content=body,
            headers={"Content-Type": "application/json", "Content-Length": declared.encode()},
        )
        assert reply.status_code == status, (declared, reply.text)
