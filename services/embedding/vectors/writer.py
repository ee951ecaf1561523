"""Upserts on a thread of their own, so encoding the next group overlaps writing this one.

The writer opens the collection once (local mode reads it whole on every open) and keeps it,
with the lock, until closed: in local mode a search waits while a sync writes. Every upsert
waits for Qdrant's acknowledgement (`wait=True`); `close()` returns when all are written and
raises the first error, so nothing after it (the watermark) moves on a failed write.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from qdrant_client import QdrantClient, models

from libs.common.settings import CommonSettings
from services.embedding.vectors.store import ensure_collection, qdrant

UPSERT_BATCH = 256  # points per upsert request


class PointWriter:
    def __init__(
        self, settings: CommonSettings, collection: str, dimension: int, *, lock_timeout_s: float
    ) -> None:
        self.settings = settings
        self.collection = collection
        self.dimension = dimension
        self.lock_timeout_s = lock_timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-writer")
        self._pending: list[Future[None]] = []
        self._stack = contextlib.ExitStack()
        self._client: QdrantClient | None = None

    def _open(self) -> QdrantClient:
        if self._client is None:
            cm = qdrant(self.settings, lock_timeout_s=self.lock_timeout_s)
            self._client = self._stack.enter_context(cm)
            ensure_collection(self._client, self.collection, self.dimension)
        return self._client

    def _write(self, points: list[models.PointStruct]) -> None:
        client = self._open()
        for first in range(0, len(points), UPSERT_BATCH):
            client.upsert(self.collection, points=points[first : first + UPSERT_BATCH], wait=True)

    def submit(self, points: list[models.PointStruct]) -> None:
        """Queue a write; at most one waits behind the one running (bounds memory)."""
        if len(self._pending) > 1:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._write, points))

    def close(self) -> None:
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pending.clear()
            self._pool.submit(self._stack.close).result()  # closed on the thread that opened
            self._pool.shutdown()

    def __enter__(self) -> PointWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
