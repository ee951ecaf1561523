"""Pull from a Postgres table: rows with the cursor column past the last value taken.

Identifiers were validated at config time and are quoted here; values go as bind parameters.
A page never splits rows that share a cursor value (`>` would skip the rest of them). Rows
committed later with a cursor value below one already taken (e.g. a sequence value taken by
a transaction that commits late) are missed: use a column set at commit order if that matters.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.ingest.pull.fetched import Fetched, SourceFailed, decode_cursor, encode_cursor


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def fetch_postgres(
    source: dict[str, Any], cursor: dict[str, Any] | None, *, max_rows: int, timeout_s: float
) -> Fetched:
    key = source["cursor_column"]
    columns = source.get("columns")
    try:
        conn = await asyncpg.connect(source["dsn"], timeout=timeout_s)
    except Exception as exc:
        reason = f"cannot connect to the source database ({type(exc).__name__})"
        raise SourceFailed(reason) from None
    try:
        rows, last = await _read(conn, source, decode_cursor(cursor), max_rows, timeout_s)
    except Exception as exc:
        raise SourceFailed(f"the source query failed ({type(exc).__name__})") from None
    finally:
        await conn.close()
    if not rows:
        return Fetched()
    hidden = key not in (columns or [key])  # selected only to move the cursor
    positions = [str(r.pop(key) if hidden else r[key]) for r in rows]
    return Fetched(records=rows, positions=positions, cursor=encode_cursor(last))


async def _read(
    conn: asyncpg.Connection, source: dict[str, Any], after: Any, max_rows: int, timeout_s: float
) -> tuple[list[dict[str, Any]], Any]:
    """Rows past `after` in cursor order (about max_rows, never splitting equal values)."""
    key = source["cursor_column"]
    table = f"{quote(source['table_schema'])}.{quote(source['table'])}"
    column = quote(key)
    columns = source.get("columns")
    wanted = "*" if not columns else ", ".join(quote(c) for c in columns)
    if columns and key not in columns:
        wanted += f", {column}"
    first = f"SELECT {wanted} FROM {table} ORDER BY {column} LIMIT $1"  # noqa: S608
    following = f"SELECT {wanted} FROM {table} WHERE {column} > $2 ORDER BY {column} LIMIT $1"  # noqa: S608
    ties_sql = f"SELECT {wanted} FROM {table} WHERE {column} = $1"  # noqa: S608
    page = max(1, min(max_rows, 5000))
    rows: list[dict[str, Any]] = []
    while len(rows) < max_rows:
        if after is None:
            got = await conn.fetch(first, page, timeout=timeout_s)
        else:
            got = await conn.fetch(following, page, after, timeout=timeout_s)
        batch = [dict(r) for r in got]
        if len(batch) == page:  # the page may end inside a run of equal cursor values
            last = batch[-1][key]
            batch = [r for r in batch if r[key] != last]
            batch.extend(dict(r) for r in await conn.fetch(ties_sql, last, timeout=timeout_s))
        if not batch:
            break
        rows.extend(batch)
        after = batch[-1][key]
        if len(got) < page:
            break
    return rows, after
