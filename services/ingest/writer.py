"""Group commit for the outbox: concurrent requests share one INSERT and one COMMIT.

A request hands its rows over and waits; a drain task writes everything pending in one
transaction and wakes each waiter only after the COMMIT, so a 2xx still means durable.
While one transaction is in flight the next group gathers: the busier the API, the larger
the groups, and the cost of a round trip and a commit is shared by every request in them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from libs.common.db import get_engine
from services.ingest import repository

Pending = tuple[Sequence[repository.OutboxInsert], "asyncio.Future[set[str]]"]


class OutboxWriter:
    def __init__(self, max_in_flight: int = 2, max_rows: int = 5_000) -> None:
        self.max_in_flight = max_in_flight
        self.max_rows = max_rows
        self._pending: list[Pending] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def insert(self, rows: Sequence[repository.OutboxInsert]) -> set[str]:
        """The event ids of `rows` that this call inserted (others are duplicates)."""
        if not rows:
            return set()
        future: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if self._in_flight < self.max_in_flight:
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take(self) -> list[Pending]:
        group: list[Pending] = []
        size = 0
        while self._pending and (not group or size + len(self._pending[0][0]) <= self.max_rows):
            item = self._pending.pop(0)
            group.append(item)
            size += len(item[0])
        return group

    async def _drain(self) -> None:
        try:
            while self._pending:
                group = self._take()
                owner: dict[str, int] = {}  # event id -> the first request in the group with it
                rows: list[repository.OutboxInsert] = []
                for i, (request_rows, _) in enumerate(group):
                    for row in request_rows:
                        if row.event_id not in owner:
                            owner[row.event_id] = i
                            rows.append(row)
                try:
                    async with get_engine().begin() as conn:
                        new_ids = await repository.insert_outbox(conn, rows)
                except BaseException as exc:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                mine: list[set[str]] = [set() for _ in group]
                for event_id in new_ids:
                    mine[owner[event_id]].add(event_id)
                for (_, future), ids in zip(group, mine, strict=True):
                    if not future.done():
                        future.set_result(ids)
        finally:
            self._in_flight -= 1


writer = OutboxWriter()
