"""Group commit: concurrent callers share one transaction and one COMMIT.

A caller hands its items over and waits; a drain task writes everything pending in one
transaction and wakes each caller only after the COMMIT, so a caller that returns knows its
items are durable. While one transaction is in flight the next group gathers: the busier the
process, the larger the groups, and the cost of a round trip and an fsync is shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.db import get_engine

Item = TypeVar("Item")
Result = TypeVar("Result")
# Writes one group (each caller's items, in order) and returns each caller's result.
WriteGroup = Callable[[AsyncConnection, list[Sequence[Item]]], Awaitable[list[Result]]]


class GroupCommitWriter(Generic[Item, Result]):
    def __init__(
        self,
        write_group: WriteGroup[Item, Result],
        *,
        max_in_flight: int = 2,
        max_rows: int = 5_000,
    ) -> None:
        self.write_group = write_group
        self.max_in_flight = max_in_flight
        self.max_rows = max_rows
        self._pending: list[tuple[Sequence[Item], asyncio.Future[Result]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, items: Sequence[Item]) -> Result:
        """This caller's result, once its items are committed (with whoever else's)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new loop (tests, tasks): state of the old one is dead
            self._loop, self._pending, self._in_flight = loop, [], 0
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((items, future))
        if self._in_flight < self.max_in_flight:
            self._in_flight += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take(self) -> list[tuple[Sequence[Item], asyncio.Future[Result]]]:
        group: list[tuple[Sequence[Item], asyncio.Future[Result]]] = []
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
                try:
                    async with get_engine().begin() as conn:
                        results = await self.write_group(conn, [items for items, _ in group])
                except BaseException as exc:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._in_flight -= 1
