"""The lock of one derived asset: its transformation's write, a user's erasure from it and a
restore of it take it, so none of them interleaves with another."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def take_derived_lock(conn: AsyncConnection, location: str) -> None:
    """Wait for, then hold until the transaction ends, the lock of the asset at `location`."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"derived:{location}"}
    )
