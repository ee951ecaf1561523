"""Flushing the outbox to the raw zone, on a local folder and on S3 over HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.lake import Lake
from services.ingest import repository
from services.ingest.flush import flush_outbox
from services.ingest.maintenance import compact
from services.ingest.raw_table import RawEventsTable
from tests import factories
from tests.ingest.lake_scan import find


def raw_rows(settings: Any) -> list[dict[str, Any]]:
    table = Lake(settings).delta_table(settings.ingest_raw_table)
    return [] if table is None else table.to_pyarrow_table().to_pylist()


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
    rows = raw_rows(lake_settings)
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
    rows = raw_rows(lake_settings)
    assert [r["event_id"] for r in rows] == ["once-only"]


async def test_partitioned_by_service_and_event_date(client: Any, lake_settings: Any) -> None:
    await post(client, [factories.mood(timestamp="2026-03-04T10:00:00Z"), factories.journal()])
    await flush_outbox(lake_settings, Lake(lake_settings))
    table = Lake(lake_settings).delta_table(lake_settings.ingest_raw_table)
    assert table is not None
    assert table.metadata().partition_columns == ["service", "event_date"]
    assert any("service=mood-service/event_date=2026-03-04" in p for p in table.file_uris())


async def test_typed_body_and_extras_are_split(client: Any, lake_settings: Any) -> None:
    await post(client, [factories.mood(score=3, device="android")])
    await flush_outbox(lake_settings, Lake(lake_settings))
    (row,) = raw_rows(lake_settings)
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
    assert len(raw_rows(lake_settings)) == (500 if crash_point == "before_lake_commit" else 1000)

    assert await pending() > 0
    report = await flush_outbox(lake_settings, Lake(lake_settings))
    assert report.recovered == 1
    rows = raw_rows(lake_settings)
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
    from libs.common.db import one_shot_engine

    crashed = one_shot_engine(lake_settings.database_url)
    async with crashed.begin() as conn:  # a crash left the new batch 1 claimed
        claimed = await repository.claim_batch(conn, 100)
    await crashed.dispose()
    assert claimed is not None and claimed.id == 1
    report = await flush_outbox(lake_settings, Lake(lake_settings))
    assert (report.recovered, report.rows) == (1, 7)
    assert len(raw_rows(lake_settings)) == 17


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
    ids = [r["event_id"] for r in raw_rows(lake_settings)]
    assert len(ids) == len(set(ids)) == len(entries)


async def test_a_batch_owned_by_a_live_flusher_is_not_recovered(
    client: Any, lake_settings: Any
) -> None:
    await post(client, [factories.mood() for _ in range(5)])
    from libs.common.db import one_shot_engine

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

    hits = find(Lake(lake_settings), [email, phone, ssn, "415-555-0137", "Kowalski"])
    assert hits == []
    rows = raw_rows(lake_settings)
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
    assert find(Lake(lake_settings), ["quillfeather", "tq@example.net"]) == []
    auth_row = next(r for r in raw_rows(lake_settings) if r["service"] == "auth-service")
    body = orjson.loads(auth_row["body"])
    assert body["email"].startswith("<EMAIL_ADDRESS")


async def test_compaction_keeps_rows_and_reduces_files(client: Any, lake_settings: Any) -> None:
    for _ in range(4):
        await post(client, [factories.mood(timestamp="2026-05-05T12:00:00Z") for _ in range(50)])
        await flush_outbox(lake_settings, Lake(lake_settings))
    lake = Lake(lake_settings)
    before = lake.delta_table(lake_settings.ingest_raw_table)
    assert before is not None
    files_before = len(before.file_uris())
    report = await compact(lake_settings, lake)
    after = lake.delta_table(lake_settings.ingest_raw_table)
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
    from services.ingest.raw_table import STATS_COLUMNS

    assert set(STATS_COLUMNS.split(",")) == {"event_time", "received_at", "flush_batch"}
