"""Flushing the outbox to the raw zone, on a local folder and on S3 over HTTP."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from libs.common.crypto import DataKeys, get_data_keys, is_encrypted
from libs.common.db import get_engine, one_shot_engine
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from libs.common.subjects import subject_key
from services.ingest.flush.maintenance import compact
from services.ingest.flush.raw_table import RawEventsTable
from services.ingest.flush.service import flush_outbox
from services.ingest.outbox import repository
from tests import factories
from tests.ingest.lake_scan import all_keys, decrypted_rows, find, stored_rows


async def raw_rows(settings: Any) -> list[dict[str, Any]]:
    """The raw table's rows, body and extras decrypted as a reader sees them."""
    return await decrypted_rows(Lake(settings), RAW_EVENTS)


async def post(client: Any, entries: list[dict[str, Any]]) -> dict[str, Any]:
    reply = await client.post("/v1/logs", json={"entries": entries})
    assert reply.status_code == 202, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def pending() -> int:
    async with get_engine().connect() as conn:
        return int(
            await conn.scalar(text("SELECT count(*) FROM ingest.outbox WHERE flushed_at IS NULL"))
            or 0
        )


async def test_flush_lands_every_accepted_entry_once(client: Any, lake_settings: Any) -> None:
    entries = [make() for make in factories.ALL for _ in range(30)]
    assert (await post(client, entries))["accepted"] == len(entries)

    report = await flush_outbox(lake_settings, Lake(lake_settings))

    assert report.rows == len(entries)
    assert report.batches == 1 and report.bytes > 0
    rows = await raw_rows(lake_settings)
    assert len(rows) == len(entries)
    assert len({r["event_id"] for r in rows}) == len(entries)
    assert {r["service"] for r in rows} == {e["service"] for e in entries}
    assert await pending() == 0
    async with get_engine().connect() as conn:
        assert (
            await conn.scalar(text("SELECT count(*) FROM ingest.outbox WHERE payload IS NOT NULL"))
            == 0
        )


async def test_duplicates_across_requests_give_one_lake_row(
    client: Any, lake_settings: Any
) -> None:
    entry = factories.mood(event_id="once-only")
    await post(client, [entry])
    await flush_outbox(lake_settings, Lake(lake_settings))
    await post(client, [entry, entry])  # a resend after the first flush
    await flush_outbox(lake_settings, Lake(lake_settings))
    rows = await raw_rows(lake_settings)
    assert [r["event_id"] for r in rows] == ["once-only"]


async def test_partitioned_by_service_and_event_date(client: Any, lake_settings: Any) -> None:
    await post(client, [factories.mood(timestamp="2026-03-04T10:00:00Z"), factories.journal()])
    await flush_outbox(lake_settings, Lake(lake_settings))
    table = Lake(lake_settings).delta_table(RAW_EVENTS)
    assert table is not None
    assert table.metadata().partition_columns == ["service", "event_date"]
    assert any("service=mood-service/event_date=2026-03-04" in p for p in table.file_uris())


async def test_typed_body_and_extras_are_split(client: Any, lake_settings: Any) -> None:
    await post(client, [factories.mood(score=3, device="android")])
    await flush_outbox(lake_settings, Lake(lake_settings))
    (row,) = await raw_rows(lake_settings)
    assert orjson.loads(row["body"])["score"] == 3
    assert orjson.loads(row["extras"]) == {"device": "android"}
    assert row["subject_key"] and row["subject_key"] != row["user_id"]


@pytest.mark.parametrize("crash_point", ["before_lake_commit", "after_lake_commit"])
async def test_a_crash_at_any_point_neither_loses_nor_duplicates(
    client: Any, lake_settings: Any, monkeypatch: pytest.MonkeyPatch, crash_point: str
) -> None:
    entries = [factories.journal() for _ in range(1200)]  # three batches of 500
    for start in range(0, len(entries), 600):
        await post(client, entries[start : start + 600])

    class Crash(Exception):
        pass

    original_append = RawEventsTable.append
    original_mark = repository.mark_landed
    appends, marks = [0], [0]

    def crashing_append(self: RawEventsTable, rows: Any, *, token: str) -> Any:
        appends[0] += 1
        if appends[0] == 2 and crash_point == "before_lake_commit":
            raise Crash  # the second batch dies before its Delta commit
        return original_append(self, rows, token=token)

    async def crashing_mark(conn: Any, batch_id: int, **kw: Any) -> None:
        marks[0] += 1
        if marks[0] == 2 and crash_point == "after_lake_commit":
            raise Crash  # the second batch is in the lake but not marked
        await original_mark(conn, batch_id, **kw)

    monkeypatch.setattr(RawEventsTable, "append", crashing_append)
    monkeypatch.setattr(repository, "mark_landed", crashing_mark)
    with pytest.raises(Crash):
        await flush_outbox(lake_settings, Lake(lake_settings))
    monkeypatch.undo()
    assert len(await raw_rows(lake_settings)) == (
        500 if crash_point == "before_lake_commit" else 1000
    )

    assert await pending() > 0
    report = await flush_outbox(lake_settings, Lake(lake_settings))
    assert report.recovered == 1
    rows = await raw_rows(lake_settings)
    assert len(rows) == len(entries)
    assert len({r["event_id"] for r in rows}) == len(entries)
    assert await pending() == 0


async def test_a_new_database_over_an_existing_lake_loses_nothing(
    client: Any, lake_settings: Any
) -> None:
    """Batch numbers restart with a new (or restored) database; the lake remembers old ones."""
    await post(client, [factories.mood() for _ in range(10)])
    await flush_outbox(lake_settings, Lake(lake_settings))
    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE ingest.outbox, ingest.flush_batches RESTART IDENTITY"))
    await post(client, [factories.mood() for _ in range(7)])
    crashed = one_shot_engine(lake_settings.database_url)
    async with crashed.begin() as conn:  # a crash left the new batch 1 claimed
        claimed = await repository.claim_batch(conn, 100)
    await crashed.dispose()
    assert claimed is not None and claimed.id == 1
    report = await flush_outbox(lake_settings, Lake(lake_settings))
    assert (report.recovered, report.rows) == (1, 7)
    assert len(await raw_rows(lake_settings)) == 17


async def test_parallel_flushers_land_disjoint_batches(client: Any, lake_settings: Any) -> None:
    import asyncio

    entries = [factories.journal() for _ in range(2000)]  # four batches of 500
    for start in range(0, len(entries), 1000):
        await post(client, entries[start : start + 1000])
    reports = await asyncio.gather(
        flush_outbox(lake_settings, Lake(lake_settings)),
        flush_outbox(lake_settings, Lake(lake_settings)),
    )
    assert sum(r.rows for r in reports) == len(entries)
    assert not set(reports[0].batch_ids) & set(reports[1].batch_ids)
    ids = [r["event_id"] for r in (await raw_rows(lake_settings))]
    assert len(ids) == len(set(ids)) == len(entries)


async def test_a_batch_owned_by_a_live_flusher_is_not_recovered(
    client: Any, lake_settings: Any
) -> None:
    await post(client, [factories.mood() for _ in range(5)])
    engine = one_shot_engine(lake_settings.database_url)
    async with engine.connect() as live_owner:
        claimed = await repository.claim_batch(live_owner, 100)
        await live_owner.commit()
        assert claimed is not None
        report = await flush_outbox(lake_settings, Lake(lake_settings))
        assert (report.recovered, report.rows) == (0, 0)
    # the owner's connection is gone (as if its worker died): now it is recovered
    await engine.dispose()
    report = await flush_outbox(lake_settings, Lake(lake_settings))
    assert (report.recovered, report.rows) == (1, 5)


async def test_no_personal_data_survives_in_the_raw_zone(client: Any, lake_settings: Any) -> None:
    email, phone, ssn = "maria.kowalski@example.org", "(415) 555-0137", "536-22-8471"
    entries = [
        factories.journal(
            text=f"Wrote to {email} today, then called {phone}. My SSN {ssn} leaked?"
        ),
        factories.lyfbot(prompt=f"my email is {email}", response="Thanks, I won't store that."),
        factories.mood(note=f"call me at {phone}"),
        factories.chat(message=f"ssn: {ssn}"),
        factories.auth(email=email, phone=phone, name="Maria Kowalski"),
        factories.mood(free_note=f"extra field with {email}"),
    ]
    await post(client, entries)
    await flush_outbox(lake_settings, Lake(lake_settings))

    needles = [email, phone, ssn, "415-555-0137", "Kowalski"]
    assert find(Lake(lake_settings), needles) == []
    assert find(Lake(lake_settings), needles, keys=await all_keys()) == []  # scrubbed, too
    rows = await raw_rows(lake_settings)
    assert len(rows) == len(entries)
    assert sum(r["pii_findings"] for r in rows) >= 6


async def test_table_log_holds_no_user_id_or_text(client: Any, lake_settings: Any) -> None:
    entries = [
        factories.journal(user_id=f"u_logprobe_{i}", text=f"unique sentence zq{i}xv")
        for i in range(5)
    ]
    await post(client, entries)
    await flush_outbox(lake_settings, Lake(lake_settings))
    lake = Lake(lake_settings)
    log_hits = find(lake, ["u_logprobe_", "zq0xv", "zq4xv"], prefix="raw/events/_delta_log")
    assert log_hits == []
    # ...while the data files do hold them (so the search itself works).
    assert find(lake, ["u_logprobe_"], prefix="raw/events/service=journal-service")


async def test_users_own_identifiers_are_found_in_their_text(
    client: Any, lake_settings: Any
) -> None:
    user = "u_known_ids"
    await post(
        client, [factories.auth(user_id=user, name="Thaddeus Quillfeather", email="tq@example.net")]
    )
    await flush_outbox(lake_settings, Lake(lake_settings))
    await post(
        client, [factories.journal(user_id=user, text="quillfeather here, feeling low today")]
    )
    await flush_outbox(lake_settings, Lake(lake_settings))
    needles = ["quillfeather", "tq@example.net"]
    assert find(Lake(lake_settings), needles, keys=await all_keys()) == []
    auth_row = next(r for r in (await raw_rows(lake_settings)) if r["service"] == "auth-service")
    body = orjson.loads(auth_row["body"])
    assert body["email"].startswith("<EMAIL_ADDRESS")


async def test_free_text_is_encrypted_at_rest(client: Any, lake_settings: Any) -> None:
    sentences = [f"the lighthouse keeper hummed tune number {i} qv7" for i in range(3)]
    entries = [
        factories.journal(user_id="u_sealed_a", text=sentences[0]),
        factories.lyfbot(user_id="u_sealed_b", prompt=sentences[1], response="noted"),
        factories.mood(user_id="u_sealed_a", note="fine", free_note=sentences[2]),  # extras
    ]
    await post(client, entries)
    await flush_outbox(lake_settings, Lake(lake_settings))
    lake = Lake(lake_settings)

    assert find(lake, ["lighthouse keeper", "qv7"]) == []  # data files and _delta_log alike
    stored = stored_rows(lake, RAW_EVENTS)
    assert all(is_encrypted(r["body"]) for r in stored)
    assert [is_encrypted(r["extras"]) for r in stored if r["extras"]] == [True]
    everything = b"".join(lake.read_bytes(o.path) for o in lake.list("raw/events"))
    assert b"lighthouse" not in everything

    rows = await raw_rows(lake_settings)
    texts = "\n".join(f"{r['body']}\n{r['extras']}" for r in rows)
    assert all(s in texts for s in sentences)  # decryption gives them back
    assert find(lake, sentences, keys=await all_keys()) != []


async def tombstone(user_id: str, settings: Any) -> str:
    """What an erasure leaves in the consent ledger: the keyed hash, no identifier."""
    subject = subject_key(user_id, settings)
    engine = one_shot_engine(settings.database_url)  # also usable from another event loop
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
                " VALUES (:s, :r, now()) ON CONFLICT DO NOTHING"
            ),
            {"s": subject, "r": str(uuid.uuid4())},
        )
    await engine.dispose()
    return subject


async def test_late_events_of_an_erased_user_are_refused(client: Any, lake_settings: Any) -> None:
    gone, kept = f"u_gone_{uuid.uuid4().hex[:8]}", f"u_kept_{uuid.uuid4().hex[:8]}"
    await post(client, [factories.journal(user_id=gone), factories.journal(user_id=kept)])
    await flush_outbox(lake_settings, Lake(lake_settings))  # the user's key exists and is cached
    subject = await tombstone(gone, lake_settings)  # erased: a late, re-sent batch arrives
    async with get_engine().begin() as conn:  # destroyed by the compliance worker...
        assert await DataKeys().destroy(conn, subject)
    async with get_engine().connect() as conn:  # ...while this process's cache still holds it
        assert subject in await get_data_keys().for_subjects(conn, [subject])
        assert await DataKeys().for_subjects(conn, [subject], create=True) == {}
    refused = REGISTRY.get_sample_value("mindlake_ingest_rows_refused_erased_total") or 0.0

    late = [factories.journal(user_id=gone, text="late sentence zx81") for _ in range(3)]
    late_ids = (await post(client, [*late, factories.mood(user_id=kept)]))["event_ids"][:3]
    report = await flush_outbox(lake_settings, Lake(lake_settings))

    assert report.rows == 1
    after = REGISTRY.get_sample_value("mindlake_ingest_rows_refused_erased_total")
    assert after == refused + 3
    rows = await raw_rows(lake_settings)
    assert [r["user_id"] for r in rows].count(gone) == 1  # the first one: erasure purges it
    assert [r["user_id"] for r in rows].count(kept) == 2
    assert await pending() == 0  # retired, not retried
    async with get_engine().connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM ingest.outbox WHERE user_id = :u AND flushed_at IS NULL"),
            {"u": gone},
        )
        held = await conn.scalar(
            text("SELECT count(*) FROM ingest.outbox WHERE event_id = ANY(:e)"), {"e": late_ids}
        )
    assert (left, held) == (0, 0)


async def test_a_tombstone_written_while_a_batch_is_built_still_refuses_it(
    client: Any, lake_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone, kept = f"u_race_{uuid.uuid4().hex[:8]}", f"u_stay_{uuid.uuid4().hex[:8]}"
    await post(client, [factories.mood(user_id=gone), factories.mood(user_id=kept)])
    from services.ingest.flush import service as flush

    original = flush.build_batch

    def erase_meanwhile(*args: Any, **kw: Any) -> Any:
        built = original(*args, **kw)  # the batch is built with the user's key...
        eraser = threading.Thread(target=lambda: asyncio.run(tombstone(gone, lake_settings)))
        eraser.start()  # ...when an erasure writes the tombstone
        eraser.join()
        return built

    monkeypatch.setattr(flush, "build_batch", erase_meanwhile)
    report = await flush_outbox(lake_settings, Lake(lake_settings))
    assert report.rows == 1
    assert [r["user_id"] for r in await raw_rows(lake_settings)] == [kept]
    assert await pending() == 0


async def test_compaction_keeps_rows_and_reduces_files(client: Any, lake_settings: Any) -> None:
    for _ in range(4):
        await post(client, [factories.mood(timestamp="2026-05-05T12:00:00Z") for _ in range(50)])
        await flush_outbox(lake_settings, Lake(lake_settings))
    lake = Lake(lake_settings)
    before = lake.delta_table(RAW_EVENTS)
    assert before is not None
    files_before = len(before.file_uris())
    report = await compact(lake_settings, lake)
    after = lake.delta_table(RAW_EVENTS)
    assert after is not None
    assert report.files_removed == files_before and len(after.file_uris()) == 1
    assert after.to_pyarrow_table().num_rows == 200
    assert find(lake, ["u_"], prefix="raw/events/_delta_log") == []


async def test_lake_objects_round_trip(lake_settings: Any) -> None:
    lake = Lake(lake_settings)
    lake.write_bytes("analytics/x/report.json", b'{"ok": true}')
    assert lake.exists("analytics/x/report.json")
    assert lake.read_bytes("analytics/x/report.json") == b'{"ok": true}'
    assert [o.path for o in lake.list("analytics")] == ["analytics/x/report.json"]
    lake.delete("analytics/x/report.json")
    assert not lake.exists("analytics/x/report.json")


def test_stats_only_on_safe_columns() -> None:
    from services.ingest.flush.raw_table import STATS_COLUMNS

    assert set(STATS_COLUMNS.split(",")) == {"event_time", "received_at", "flush_batch"}
