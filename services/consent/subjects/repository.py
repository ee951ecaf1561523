"""The consent store's erasure/portability queries (subjects/stores.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult, Row, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.consent.ledger.models import LedgerEntry
from services.consent.ledger.repository import lock_user


async def ledger_of(conn: AsyncConnection, user_id: str) -> Sequence[Row[Any]]:
    result: CursorResult[Any] = await conn.execute(
        select(LedgerEntry.__table__).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)
    )
    return result.all()


async def erase_user(
    conn: AsyncConnection, *, user_id: str, subject_key: str, request_id: str
) -> tuple[int, int]:
    """Tombstone the user, then delete their ledger and current rows; (ledger, current).

    The ledger's guard allows the DELETE only with `consent.erasure` set for this
    transaction (migration consent_0003); the user's lock keeps a concurrent consent change
    from landing between the tombstone check and the delete."""
    await lock_user(conn, user_id)
    await conn.execute(text("SELECT set_config('consent.erasure', :r, true)"), {"r": request_id})
    await conn.execute(
        text(
            "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
            " VALUES (:k, :r, now()) ON CONFLICT (subject_key) DO NOTHING"
        ),
        {"k": subject_key, "r": request_id},
    )
    ledger = await conn.execute(
        text("DELETE FROM consent.ledger WHERE user_id = :u"), {"u": user_id}
    )
    current = await conn.execute(
        text("DELETE FROM consent.current WHERE user_id = :u"), {"u": user_id}
    )
    return int(ledger.rowcount or 0), int(current.rowcount or 0)
