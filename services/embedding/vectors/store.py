"""Qdrant through qdrant-client: a server in production, local on-disk mode by default.

Local mode is one process at a time (qdrant-client locks the folder and refuses a second
opener), and the API and the worker both need it: every use opens the folder under a
blocking file lock beside it and closes it after, so they take turns. Opening reads the
collection into memory: fine for one host's demo and the tests, and the reason production
sets `MINDLAKE_QDRANT_URL`.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from libs.common.errors import ServiceUnavailable
from libs.common.settings import CommonSettings
from services.embedding.backends.base import ModelInfo

_clients: dict[str, QdrantClient] = {}
_clients_lock = threading.Lock()


def collection_name(info: ModelInfo) -> str:
    """One collection per model and dimension: `mindlake_all-minilm-l6-v2_384`."""
    slug = "".join(c if c.isalnum() or c in "-." else "-" for c in info.name.lower())
    return f"mindlake_{slug}_{info.dimension}"


@contextmanager
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        "the vector store is busy (local mode); try again shortly"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def qdrant(
    settings: CommonSettings, *, lock_timeout_s: float = 60.0, vacuum: bool = False
) -> Iterator[QdrantClient]:
    """A client for one unit of work. Server: one shared client per process. Local: the
    folder opened under the lock, closed at the end (so the other process can open it).

    `vacuum` (local mode, after deleting points): SQLite leaves deleted rows' bytes in free
    pages; the collections' files are rewritten without them before the lock is released,
    so an erased user's vectors do not linger on disk."""
    if settings.qdrant_url:
        with _clients_lock:
            client = _clients.get(settings.qdrant_url)
            if client is None:
                key = settings.qdrant_api_key
                client = _clients[settings.qdrant_url] = QdrantClient(
                    url=settings.qdrant_url, api_key=key.get_secret_value() if key else None
                )
        yield client
        return
    folder = Path(settings.qdrant_path)
    with _file_lock(folder.with_name(folder.name + ".lock"), lock_timeout_s):
        client = QdrantClient(path=str(folder))
        try:
            yield client
        finally:
            client.close()
            if vacuum:
                vacuum_local(folder)


def vacuum_local(folder: Path) -> None:
    """Rewrite local mode's SQLite files (call with the folder closed, under the lock)."""
    for storage in sorted(folder.glob("collection/*/storage.sqlite")):
        with closing(sqlite3.connect(storage)) as conn:
            conn.execute("VACUUM")


def is_local(client: QdrantClient) -> bool:
    return client.init_options.get("path") is not None or client.init_options.get("location") in (
        ":memory:",
    )


def ensure_collection(client: QdrantClient, name: str, dimension: int) -> None:
    """The collection with cosine distance and, on a server, the payload indexes searches
    filter by: the subject key as the tenant key (Qdrant keeps each user's points together),
    the service, and the event time. Local mode has no payload indexes."""
    if client.collection_exists(name):
        return
    client.create_collection(
        name, vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE)
    )
    if is_local(client):
        return
    client.create_payload_index(
        name,
        "subject_key",
        field_schema=models.KeywordIndexParams(
            type=models.KeywordIndexType.KEYWORD, is_tenant=True
        ),
    )
    client.create_payload_index(name, "service", field_schema=models.PayloadSchemaType.KEYWORD)
    client.create_payload_index(name, "event_id", field_schema=models.PayloadSchemaType.KEYWORD)
    client.create_payload_index(name, "event_time", field_schema=models.PayloadSchemaType.DATETIME)


def mindlake_collections(client: QdrantClient) -> list[str]:
    return sorted(
        c.name for c in client.get_collections().collections if c.name.startswith("mindlake_")
    )


def subject_filter(*subject_keys: str) -> models.Filter:
    return models.Filter(
        must=[
            models.FieldCondition(key="subject_key", match=models.MatchAny(any=list(subject_keys)))
        ]
    )


def scroll_all(
    client: QdrantClient,
    collection: str,
    *,
    where: models.Filter | None = None,
    with_payload: bool = True,
    with_vectors: bool = True,
    page: int = 1000,
) -> Iterator[Any]:
    """Every point of the collection (or of those matching `where`), a page at a time."""
    offset: Any = None
    while True:
        points, offset = client.scroll(
            collection, scroll_filter=where, limit=page, offset=offset,
            with_payload=with_payload, with_vectors=with_vectors,
        )  # fmt: skip
        yield from points
        if offset is None:
            return


def delete_subjects(client: QdrantClient, collection: str, subject_keys: list[str]) -> int:
    """Delete every point of these users and prove it: the count after is 0. Returns how many
    there were."""
    if not subject_keys or not client.collection_exists(collection):
        return 0
    where = subject_filter(*subject_keys)
    before = client.count(collection, count_filter=where, exact=True).count
    if before:
        client.delete(collection, points_selector=models.FilterSelector(filter=where), wait=True)
        left = client.count(collection, count_filter=where, exact=True).count
        if left:
            raise RuntimeError(
                f"{left} points of erased or withdrawn users are still in {collection}"
            )
    return before
