"""A scratch Postgres database for one bench run, and consent granted in bulk."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


@asynccontextmanager
async def scratch_database(url: str) -> AsyncIterator[str]:
    """The database at `url` created fresh (a leftover dropped first), with
    `MINDLAKE_DATABASE_URL` pointing at it; dropped on the way out. Yields its asyncpg DSN."""
    dsn = url.replace("+asyncpg", "")
    server, name = dsn.rsplit("/", 1)
    os.environ["MINDLAKE_DATABASE_URL"] = url  # before any libs.common settings are read
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield dsn
        finally:
            from libs.common.db import get_engine

            await get_engine().dispose()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def grant(dsn: str, users: list[str], purpose: str) -> None:
    """One ledger entry granting `purpose` per user, in one statement."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis, "
            "policy_version, source, actor_key_id, recorded_at) "
            "SELECT u, $2, true, 'explicit_consent', '2026-11', 'import', 'bench', now() "
            "FROM unnest($1::text[]) AS t(u)",
            users,
            purpose,
        )
    finally:
        await conn.close()
