"""Issue 10, when the dead-letter store keeps nothing: once accepted entries are committed
the reply reports them whatever fails after (a store that refuses to write), and an erased
user's late rejected entries reach no store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from libs.common.db import get_engine
from libs.common.settings import get_settings
from libs.common.subjects import subject_key
from services.ingest.deadletters import service as deadletter
from tests import factories
from tests.ingest.hardening_support import outbox_ids, sample
from tests.ingest.test_deadletter import dl_client, stored

__all__ = ["dl_client"]  # fixture, shared with test_deadletter


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
