"""Every query of the dead-letter store (ingest.dead_letters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ingest.deadletters.models import DeadLetter
from services.ingest.outbox.repository import raw_driver


@dataclass(frozen=True)
class DeadLetterInsert:
    """What the write side gives for a new row; every other column has a server default."""

    source: str
    service: str | None
    reason: str
    field: str | None
    error_kind: str
    payload: str  # JSON text
    key_id: str | None


# The row is defined once, by the ORM model (models.DeadLetter): rows are read into it, and
# the read and insert column lists are its column names. Queries below are assembled from
# these fixed names and fixed clauses only; every value is a bound parameter (hence the S608
# waivers).
_NAMES = tuple(c.name for c in DeadLetter.__table__.columns)
_PAYLOAD = _NAMES.index("payload")
COLUMNS = ", ".join(f"{n}::text" if n == "payload" else n for n in _NAMES)
INSERT_COLUMNS = tuple(f.name for f in fields(DeadLetterInsert))
if not set(INSERT_COLUMNS) <= set(_NAMES):
    raise RuntimeError(f"DeadLetterInsert names no column of ingest.dead_letters: {INSERT_COLUMNS}")
INSERT = (
    f"INSERT INTO ingest.dead_letters ({', '.join(INSERT_COLUMNS)})"  # noqa: S608
    f" SELECT {', '.join(f'{n}::jsonb' if n == 'payload' else n for n in INSERT_COLUMNS)}"
    f" FROM unnest({', '.join(f'${i}::text[]' for i in range(1, len(INSERT_COLUMNS) + 1))})"
    f" AS t({', '.join(INSERT_COLUMNS)})"
)


@dataclass(frozen=True)
class Filter:
    source: str | None = None
    reason: str | None = None  # error_kind, or a substring of the reason
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None


async def insert_dead_letters(conn: AsyncConnection, rows: Sequence[DeadLetterInsert]) -> None:
    if not rows:
        return
    driver = await raw_driver(conn)
    await driver.execute(INSERT, *([getattr(r, n) for r in rows] for n in INSERT_COLUMNS))


def _where(f: Filter, params: dict[str, Any]) -> list[str]:
    clauses = []
    if f.source:
        clauses.append("source = :source")
        params["source"] = f.source
    if f.reason:
        clauses.append("(error_kind = :reason OR reason ILIKE :reason_like)")
        params["reason"] = f.reason
        escaped = f.reason.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["reason_like"] = f"%{escaped}%"
    if f.service:
        clauses.append("service = :service")
        params["service"] = f.service
    if f.since:
        clauses.append("received_at >= :since")
        params["since"] = f.since
    if f.until:
        clauses.append("received_at < :until")
        params["until"] = f.until
    if f.status:
        clauses.append("status = :status")
        params["status"] = f.status
    return clauses


def _row(r: Any) -> DeadLetter:
    """A selected row (COLUMNS) as a transient DeadLetter, not attached to any session."""
    values = list(r)
    # selected as text: a JSON string payload stays a str
    values[_PAYLOAD] = orjson.loads(values[_PAYLOAD])
    return DeadLetter(**dict(zip(_NAMES, values, strict=True)))


async def list_page(
    conn: AsyncConnection, f: Filter, *, limit: int, before_id: int | None
) -> list[DeadLetter]:
    """Newest first; keyset pagination on id (ids grow with time)."""
    params: dict[str, Any] = {"limit": limit}
    clauses = _where(f, params)
    if before_id is not None:
        clauses.append("id < :before")
        params["before"] = before_id
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    result = await conn.execute(
        text(f"SELECT {COLUMNS} FROM ingest.dead_letters {where} ORDER BY id DESC LIMIT :limit"),  # noqa: S608
        params,
    )
    return [_row(r) for r in result]


async def get(conn: AsyncConnection, dead_letter_id: int) -> DeadLetter | None:
    result = await conn.execute(
        text(f"SELECT {COLUMNS} FROM ingest.dead_letters WHERE id = :id"),  # noqa: S608
        {"id": dead_letter_id},
    )
    row = result.first()
    return _row(row) if row else None


async def lock_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[DeadLetter]:
    """The rows, locked until commit: two replays of the same row queue up, not double up."""
    sql = f"SELECT {COLUMNS} FROM ingest.dead_letters WHERE id = ANY(:ids)"  # noqa: S608
    result = await conn.execute(
        text(sql + " ORDER BY id FOR UPDATE"),  # in id order: concurrent replays cannot deadlock
        {"ids": list(ids)},
    )
    return [_row(r) for r in result]


async def lock_by_filter(conn: AsyncConnection, f: Filter, *, limit: int) -> list[DeadLetter]:
    """Open rows matching `f`, oldest first, locked; rows another replay holds are skipped."""
    params: dict[str, Any] = {"limit": limit}
    clauses = [*_where(f, params), "status = 'open'"]
    result = await conn.execute(
        text(
            f"SELECT {COLUMNS} FROM ingest.dead_letters WHERE {' AND '.join(clauses)}"  # noqa: S608
            " ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
        ),
        params,
    )
    return [_row(r) for r in result]


async def mark_replayed(conn: AsyncConnection, pairs: Sequence[tuple[int, str]]) -> None:
    if not pairs:
        return
    driver = await raw_driver(conn)
    await driver.execute(
        "UPDATE ingest.dead_letters d SET status = 'replayed', replayed_at = now(),"
        " replay_event_id = t.event_id"
        " FROM unnest($1::bigint[], $2::text[]) AS t(id, event_id) WHERE d.id = t.id",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )


async def discard(conn: AsyncConnection, dead_letter_id: int) -> str | None:
    """Mark an open row discarded; returns the row's status after the call (None: no row)."""
    status = await conn.scalar(
        text(
            "UPDATE ingest.dead_letters SET status = 'discarded'"
            " WHERE id = :id AND status = 'open' RETURNING status"
        ),
        {"id": dead_letter_id},
    )
    if status is not None:
        return str(status)
    current = await conn.scalar(
        text("SELECT status FROM ingest.dead_letters WHERE id = :id"), {"id": dead_letter_id}
    )
    return None if current is None else str(current)


async def claim_unscrubbed(conn: AsyncConnection, limit: int) -> list[tuple[int, Any, str, str]]:
    """(id, payload, reason, key) of rows not yet scrubbed, locked for this transaction."""
    result = await conn.execute(
        text(
            "SELECT id, payload::text, reason, coalesce(payload->>'user_id', '')"
            " FROM ingest.dead_letters WHERE scrubbed_at IS NULL"
            " ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
        ),
        {"n": limit},
    )
    return [(int(r[0]), orjson.loads(r[1]), str(r[2]), str(r[3])) for r in result]


async def save_scrubbed(conn: AsyncConnection, rows: Sequence[tuple[int, str, str]]) -> None:
    """(id, scrubbed payload JSON, scrubbed reason) -> stored, with scrubbed_at set."""
    if not rows:
        return
    driver = await raw_driver(conn)
    await driver.execute(
        "UPDATE ingest.dead_letters d SET payload = t.payload::jsonb, reason = t.reason,"
        " scrubbed_at = now()"
        " FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(id, payload, reason)"
        " WHERE d.id = t.id",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


async def open_count(conn: AsyncConnection) -> int:
    return int(
        await conn.scalar(text("SELECT count(*) FROM ingest.dead_letters WHERE status = 'open'"))
        or 0
    )
