"""Group commit for the outbox (libs/common/group_commit.py): concurrent requests share one
INSERT and one COMMIT, and each reply waits for that COMMIT, so a 2xx still means durable."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.group_commit import GroupCommitWriter
from services.ingest.outbox import repository


async def insert_group(
    conn: AsyncConnection, requests: list[Sequence[repository.OutboxInsert]]
) -> list[set[str]]:
    """Insert every request's rows; each request gets the event ids it inserted. An event id
    sent by several requests of the group is credited to the first of them."""
    owner: dict[str, int] = {}
    rows: list[repository.OutboxInsert] = []
    for i, request_rows in enumerate(requests):
        for row in request_rows:
            if row.event_id not in owner:
                owner[row.event_id] = i
                rows.append(row)
    new_ids = await repository.insert_outbox(conn, rows)
    mine: list[set[str]] = [set() for _ in requests]
    for event_id in new_ids:
        mine[owner[event_id]].add(event_id)
    return mine


class OutboxWriter:
    def __init__(self, max_in_flight: int = 2, max_rows: int = 5_000) -> None:
        self._writer = GroupCommitWriter(
            insert_group, max_in_flight=max_in_flight, max_rows=max_rows
        )

    async def insert(self, rows: Sequence[repository.OutboxInsert]) -> set[str]:
        """The event ids of `rows` that this call inserted (others are duplicates)."""
        if not rows:
            return set()
        return await self._writer.submit(rows)


writer = OutboxWriter()
