"""The staged area of the lake, keyed by subject key (never by e-mail, as the source had it):

    <prefix>/<subject_key>/stage1/<upload_id>        the file as uploaded
    <prefix>/<subject_key>/stage2/<upload_id>.json   its records, categorized
    <prefix>/<subject_key>/stage3/personas.json      the user's personas

Every object is sealed with the user's data key (sealed.py), its path as associated data.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import orjson

from libs.common.errors import PayloadTooLarge
from libs.common.lake import Lake
from services.embedding.config import EmbeddingSettings
from services.embedding.personas.sealed import SealedWriter, read_sealed

PERSONAS_FILE = "stage3/personas.json"


def user_prefix(settings: EmbeddingSettings, subject_key: str) -> str:
    return f"{settings.embedding_persona_prefix.strip('/')}/{subject_key}/"


def raw_path(settings: EmbeddingSettings, subject_key: str, upload_id: str) -> str:
    return f"{user_prefix(settings, subject_key)}stage1/{upload_id}"


def categorized_path(settings: EmbeddingSettings, subject_key: str, upload_id: str) -> str:
    return f"{user_prefix(settings, subject_key)}stage2/{upload_id}.json"


def personas_path(settings: EmbeddingSettings, subject_key: str) -> str:
    return user_prefix(settings, subject_key) + PERSONAS_FILE


@dataclass(frozen=True)
class Received:
    size: int
    sha256: str


async def receive(
    lake: Lake, path: str, key: bytes, chunks: AsyncIterator[bytes], *, max_bytes: int
) -> Received:
    """Seal the request body into the lake as it arrives; an oversize body leaves nothing."""
    out = await anyio.to_thread.run_sync(lake.open_output_stream, path)
    writer = SealedWriter(out, key, path)
    digest = hashlib.sha256()
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"the file is over {max_bytes} bytes",
                    errors=[{"field": "body", "reason": f"at most {max_bytes} bytes"}],
                )
            digest.update(chunk)
            await anyio.to_thread.run_sync(writer.write, chunk)
        await anyio.to_thread.run_sync(writer.close)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_discard, lake, path, out)
        raise
    return Received(size=size, sha256=digest.hexdigest())


def _discard(lake: Lake, path: str, out: Any) -> None:
    if not out.closed:
        out.close()
    if lake.exists(path):
        lake.delete(path)


def read_raw(lake: Lake, path: str, key: bytes) -> Iterator[bytes]:
    """The uploaded bytes, a frame at a time (never the whole file in memory)."""
    with lake.open_input_stream(path) as src:
        yield from read_sealed(src, key, path)


def write_json(lake: Lake, path: str, key: bytes, doc: Any) -> None:
    writer = SealedWriter(lake.open_output_stream(path), key, path)
    writer.write(orjson.dumps(doc))
    writer.close()


def read_json(lake: Lake, path: str, key: bytes) -> Any | None:
    if not lake.exists(path):
        return None
    return orjson.loads(b"".join(read_raw(lake, path, key)))


def delete_object(lake: Lake, path: str) -> None:
    if lake.exists(path):
        lake.delete(path)


def delete_objects(lake: Lake, prefix: str) -> int:
    """Delete every object under `prefix`; how many there were."""
    objects = lake.list(prefix)
    for obj in objects:
        lake.delete(obj.path)
    return len(objects)
