"""Every query of the outbox, its flush batches and users' known identifiers."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import consent

# One statement for the whole batch (arrays, not row by row); duplicates already in the
# outbox are skipped by the primary key and reported back by their absence from RETURNING.
INSERT_OUTBOX = """
INSERT INTO ingest.outbox (event_id, service, user_id, event_type, event_time, payload)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bytea[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


@dataclass(frozen=True)
class OutboxInsert:
    event_id: str
    service: str
    user_id: str
    event_type: str
    event_time: datetime
    payload: bytes


@dataclass(frozen=True)
class ClaimedBatch:
    id: int
    token: str  # random: names the batch's Delta commit, unique across databases
    rows: int


@dataclass(frozen=True)
class PendingRow:
    event_id: str
    service: str
    user_id: str
    event_type: str
    event_time: datetime
    received_at: datetime
    payload: bytes


async def raw_driver(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def insert_outbox(conn: AsyncConnection, rows: Sequence[OutboxInsert]) -> set[str]:
    """Insert in bulk; returns the event ids that were new."""
    if not rows:
        return set()
    driver = await raw_driver(conn)
    records = await driver.fetch(
        INSERT_OUTBOX,
        [r.event_id for r in rows],
        [r.service for r in rows],
        [r.user_id for r in rows],
        [r.event_type for r in rows],
        [r.event_time for r in rows],
        [r.payload for r in rows],
    )
    return {rec[0] for rec in records}


async def outbox_depth(conn: AsyncConnection) -> tuple[int, float]:
    """Rows not yet in the lake, and the age in seconds of the oldest one."""
    row = (
        await conn.execute(
            text(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0)"
                " FROM ingest.outbox WHERE flushed_at IS NULL"
            )
        )
    ).one()
    return int(row[0]), float(row[1])


# Session-level advisory locks: freed when their connection dies, so a killed flusher frees
# its batch for recovery. One per claimed batch; writing the raw table takes
# libs.common.lake_locks (erasure and retention write it too).
BATCH_LOCK = "hashtext('mindlake-ingest-flush-batch')"


async def lock_batch(conn: AsyncConnection, batch_id: int) -> bool:
    """Try to own a claimed batch; False while a live flusher owns it."""
    got = await conn.scalar(
        text(f"SELECT pg_try_advisory_lock({BATCH_LOCK}, (:b % 2147483647)::int)"), {"b": batch_id}
    )
    return bool(got)


async def unlock_batch(conn: AsyncConnection, batch_id: int) -> None:
    await conn.execute(
        text(f"SELECT pg_advisory_unlock({BATCH_LOCK}, (:b % 2147483647)::int)"), {"b": batch_id}
    )


async def batch_is_claimed(conn: AsyncConnection, batch_id: int) -> bool:
    state = await conn.scalar(
        text("SELECT state FROM ingest.flush_batches WHERE id = :b"), {"b": batch_id}
    )
    return bool(state == "claimed")


async def unfinished_batches(conn: AsyncConnection) -> list[ClaimedBatch]:
    result = await conn.execute(
        text(
            "SELECT id, token, row_count FROM ingest.flush_batches"
            " WHERE state = 'claimed' ORDER BY id"
        )
    )
    return [ClaimedBatch(int(r[0]), str(r[1] or ""), int(r[2])) for r in result]


async def claim_batch(conn: AsyncConnection, limit: int) -> ClaimedBatch | None:
    """Tag up to `limit` pending rows (oldest first) with a new batch, and own its lock
    before the claim commits, so no other flusher ever sees it unowned."""
    token = uuid.uuid4().hex
    batch_id = int(
        await conn.scalar(
            text(
                "INSERT INTO ingest.flush_batches (state, row_count, token)"
                " VALUES ('claimed', 0, :t) RETURNING id"
            ),
            {"t": token},
        )
        or 0
    )
    claimed = (
        await conn.execute(
            text(
                "UPDATE ingest.outbox SET flush_batch = :b WHERE event_id IN ("
                " SELECT event_id FROM ingest.outbox WHERE flush_batch IS NULL"
                " ORDER BY seq LIMIT :n FOR UPDATE SKIP LOCKED)"
            ),
            {"b": batch_id, "n": limit},
        )
    ).rowcount
    if claimed == 0:
        await conn.execute(text("DELETE FROM ingest.flush_batches WHERE id = :b"), {"b": batch_id})
        return None
    await conn.execute(
        text("UPDATE ingest.flush_batches SET row_count = :n WHERE id = :b"),
        {"n": claimed, "b": batch_id},
    )
    await lock_batch(conn, batch_id)
    return ClaimedBatch(batch_id, token, int(claimed))


async def batch_rows(conn: AsyncConnection, batch_id: int) -> list[PendingRow]:
    result = await conn.execute(
        text(
            "SELECT event_id, service, user_id, event_type, event_time, received_at, payload"
            " FROM ingest.outbox WHERE flush_batch = :b AND payload IS NOT NULL ORDER BY seq"
        ),
        {"b": batch_id},
    )
    return [PendingRow(*r) for r in result]


async def mark_landed(
    conn: AsyncConnection, batch_id: int, *, lake_version: int | None, bytes_landed: int
) -> None:
    await conn.execute(
        text(
            "UPDATE ingest.flush_batches SET state = 'landed', landed_at = now(),"
            " lake_version = :v, bytes_landed = :bytes WHERE id = :b"
        ),
        {"b": batch_id, "v": lake_version, "bytes": bytes_landed},
    )
    await conn.execute(
        text("UPDATE ingest.outbox SET flushed_at = now(), payload = NULL WHERE flush_batch = :b"),
        {"b": batch_id},
    )


async def tombstoned(conn: AsyncConnection, subject_keys: Sequence[str]) -> set[str]:
    """The subjects among these that were erased (consent.tombstones: their data is refused)."""
    return set(await consent.tombstoned(conn, subject_keys))


async def drop_outbox_rows(conn: AsyncConnection, batch_id: int, user_ids: Sequence[str]) -> int:
    """Retire a batch's rows of erased users by deleting them: no trace of them stays behind."""
    if not user_ids:
        return 0
    result = await conn.execute(
        text("DELETE FROM ingest.outbox WHERE flush_batch = :b AND user_id = ANY(:u)"),
        {"b": batch_id, "u": list(user_ids)},
    )
    return int(result.rowcount)


async def save_identifiers(conn: AsyncConnection, rows: Sequence[tuple[str, str, str]]) -> None:
    if not rows:
        return
    driver = await raw_driver(conn)
    await driver.execute(
        "INSERT INTO ingest.user_identifiers (user_id, kind, value)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
        " ON CONFLICT DO NOTHING",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


async def identifiers_for(conn: AsyncConnection, user_ids: Sequence[str]) -> dict[str, list[str]]:
    if not user_ids:
        return {}
    driver = await raw_driver(conn)
    records = await driver.fetch(
        "SELECT user_id, value FROM ingest.user_identifiers WHERE user_id = ANY($1::text[])",
        list(user_ids),
    )
    known: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        known[rec[0]].append(rec[1])
    return known


async def prune_flushed(conn: AsyncConnection, *, older_than_days: int) -> int:
    result = await conn.execute(
        text(
            "DELETE FROM ingest.outbox WHERE flushed_at IS NOT NULL"
            " AND flushed_at < now() - make_interval(days => :d)"
        ),
        {"d": older_than_days},
    )
    await conn.execute(
        text(
            "DELETE FROM ingest.flush_batches WHERE state = 'landed'"
            " AND landed_at < now() - make_interval(days => :d)"
        ),
        {"d": older_than_days},
    )
    return int(result.rowcount)
