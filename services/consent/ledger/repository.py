"""Every query of the consent ledger (the erasure's are in subjects/repository.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult, Row, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.consent.ledger.models import CurrentConsent, LedgerEntry, Tombstone


async def current_state(session: AsyncSession, user_id: str) -> list[CurrentConsent]:
    rows = await session.scalars(select(CurrentConsent).where(CurrentConsent.user_id == user_id))
    return list(rows.all())


async def append(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[LedgerEntry]:
    """Append entries; the ledger trigger updates `consent.current` in the same transaction."""
    result = await session.scalars(insert(LedgerEntry).returning(LedgerEntry), list(rows))
    return sorted(result.all(), key=lambda e: e.id)


async def lock_user(conn: AsyncSession | AsyncConnection, user_id: str) -> None:
    """Serialise changes of one user (revoke-all reads then writes; erasure) until the
    transaction ends."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('consent:' || :u))"), {"u": user_id}
    )


async def is_erased(session: AsyncSession, subject_key: str) -> bool:
    found = await session.scalar(
        select(Tombstone.subject_key).where(Tombstone.subject_key == subject_key)
    )
    return found is not None


async def has_entries(session: AsyncSession, user_id: str) -> bool:
    found = await session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.user_id == user_id).limit(1)
    )
    return found is not None


async def history(
    session: AsyncSession, user_id: str, *, after_id: int, limit: int
) -> list[LedgerEntry]:
    rows = await session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.user_id == user_id, LedgerEntry.id > after_id)
        .order_by(LedgerEntry.id)
        .limit(limit)
    )
    return list(rows.all())


async def rates(conn: AsyncConnection) -> tuple[int, dict[str, int]]:
    """Users with any consent record, and how many of them grant each purpose now."""
    users = await conn.scalar(select(func.count(func.distinct(CurrentConsent.user_id))))
    granted = await conn.execute(
        select(CurrentConsent.purpose, func.count())
        .where(CurrentConsent.granted)
        .group_by(CurrentConsent.purpose)
    )
    return int(users or 0), {row[0]: int(row[1]) for row in granted}


async def ledger_after(conn: AsyncConnection, after_id: int, limit: int) -> Sequence[Row[Any]]:
    result: CursorResult[Any] = await conn.execute(
        select(LedgerEntry.__table__)
        .where(LedgerEntry.id > after_id)
        .order_by(LedgerEntry.id)
        .limit(limit)
    )
    return result.all()
