"""Daily consent backup: the whole ledger as one gzipped JSON document in the lake,
`<prefix>/<YYYY-MM-DD>_consent_backup.json.gz`, streamed (never held in memory).

Erasure rewrites each backup without the erased user's entries (`rewrite_without`), streamed
the same way."""

from __future__ import annotations

import contextlib
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.catalog import asset_written
from libs.common.lake import Lake
from services.consent.ledger import repository

BATCH_ROWS = 10_000
SUFFIX = "_consent_backup.json.gz"
ERASING_SUFFIX = "_consent_backup.erasing.json.gz"  # a rewrite in progress
READ_BYTES = 1 << 20
WRITE_BYTES = 1 << 20
_ENTRIES_OPEN = b'"entries":['
# One ledger entry: a flat JSON object (strings may hold braces; possessive, so no backtracking).
_ENTRY = re.compile(rb'\{(?:[^"{}]++|"(?:[^"\\]++|\\.)*+")*+\}', re.DOTALL)


@dataclass(frozen=True)
class BackupReport:
    path: str
    entries: int


def backup_path(prefix: str, day: date) -> str:
    return f"{prefix.rstrip('/')}/{day.isoformat()}{SUFFIX}"


async def backup_ledger(
    engine: AsyncEngine, lake: Lake, *, prefix: str, day: date | None = None
) -> BackupReport:
    """Write the ledger (every entry, oldest first) to the lake; a rerun the same day
    replaces that day's file."""
    now = datetime.now(UTC)
    path = backup_path(prefix, day or now.date())
    count = 0
    stream = lake.open_output_stream(path)
    try:
        with gzip.GzipFile(fileobj=stream, mode="wb") as out:
            header = {"kind": "consent_ledger", "format": 1, "generated_at": now.isoformat()}
            out.write(orjson.dumps(header)[:-1] + b',"entries":[')
            after_id = 0
            async with engine.connect() as conn:
                while rows := await repository.ledger_after(conn, after_id, BATCH_ROWS):
                    for row in rows:
                        out.write((b"," if count else b"") + orjson.dumps(dict(row._mapping)))
                        count += 1
                    after_id = rows[-1].id
            out.write(b'],"count":' + str(count).encode() + b"}")
        stream.close()
    except BaseException:
        with contextlib.suppress(Exception):  # no half-written backup left looking complete
            stream.close()
            lake.delete(path)
        raise
    asset_written(prefix, service="consent")  # the file is closed: complete
    return BackupReport(path=path, entries=count)


# --- erasure ---------------------------------------------------------------------------------
def backup_paths(lake: Lake, prefix: str) -> list[str]:
    return sorted(o.path for o in lake.list(prefix) if o.path.endswith(SUFFIX))


def _open(lake: Lake, path: str) -> gzip.GzipFile:
    return gzip.GzipFile(fileobj=lake.open_input_stream(path), mode="rb")


def _mentions(lake: Lake, path: str, needle: bytes) -> bool:
    tail = b""
    with _open(lake, path) as src:
        while chunk := src.read(READ_BYTES):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
    return False


def _pieces(src: gzip.GzipFile) -> Iterator[bytes]:
    """The document's head (up to the entries' `[`), then each entry's bytes."""
    buf = b""
    while _ENTRIES_OPEN not in buf:
        chunk = src.read(READ_BYTES)
        if not chunk:
            raise ValueError("not a consent backup")
        buf += chunk
    start = buf.index(_ENTRIES_OPEN) + len(_ENTRIES_OPEN)
    yield buf[:start]
    buf, pos = buf[start:], 0
    while True:
        while True:
            if buf.startswith(b",", pos):
                pos += 1
            match = _ENTRY.match(buf, pos)
            if match is None:
                break
            yield match.group()
            pos = match.end()
        chunk = src.read(READ_BYTES)
        if not chunk:
            break
        buf, pos = buf[pos:] + chunk, 0
    if not buf.startswith(b"]", pos):
        raise ValueError("a consent backup ends early")


def rewrite_without(lake: Lake, path: str, user_id: str) -> int:
    """Rewrite one backup without the user's entries (streamed, `count` corrected); the
    number removed. A backup without them is not touched. The new file is written beside
    the old one and moved over it, so a crash leaves either the old or the new file whole
    (a leftover `.erasing` file is deleted by the next run)."""
    needle = b'"user_id":' + orjson.dumps(user_id)
    if not _mentions(lake, path, needle):
        return 0
    temp = path.removesuffix(SUFFIX) + ERASING_SUFFIX
    removed = kept = 0
    stream = lake.open_output_stream(temp)
    try:
        with _open(lake, path) as src, gzip.GzipFile(fileobj=stream, mode="wb") as out:
            pieces = _pieces(src)
            batch = [next(pieces)]
            size = 0
            for entry in pieces:
                if needle in entry and orjson.loads(entry).get("user_id") == user_id:
                    removed += 1
                    continue
                batch.append(b"," + entry if kept else entry)
                kept += 1
                size += len(entry)
                if size >= WRITE_BYTES:
                    out.write(b"".join(batch))
                    batch, size = [], 0
            batch.append(b'],"count":' + str(kept).encode() + b"}")
            out.write(b"".join(batch))
        stream.close()
    except BaseException:
        with contextlib.suppress(Exception):
            stream.close()
            lake.delete(temp)
        raise
    lake.move(temp, path)
    return removed
