"""The lineage's queries: written when an export finishes, read by erasure and portability."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def replace_lineage(
    conn: AsyncConnection, export_id: uuid.UUID, rows: Iterable[tuple[str, str, int]]
) -> int:
    """The export's lineage: (subject_key, file, line) rows, written with COPY."""
    await conn.execute(text("DELETE FROM export.lineage WHERE export_id = :id"), {"id": export_id})
    records = [(export_id, file, line, key) for key, file, line in rows]
    if records:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            "lineage",
            schema_name="export",
            columns=["export_id", "file", "line", "subject_key"],
            records=records,
        )
    return len(records)


async def lines_of(
    conn: AsyncConnection, subject_key: str
) -> dict[uuid.UUID, dict[str, list[int]]]:
    """{export id: {file: [line, ...]}} of every exported line that came from the user."""
    rows = await conn.execute(
        text(
            "SELECT export_id, file, line FROM export.lineage WHERE subject_key = :k"
            " ORDER BY export_id, file, line"
        ),
        {"k": subject_key},
    )
    found: dict[uuid.UUID, dict[str, list[int]]] = {}
    for export_id, file, line in rows:
        found.setdefault(export_id, {}).setdefault(file, []).append(line)
    return found
