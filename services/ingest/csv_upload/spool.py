"""Spool a request body to a temporary file: a CSV of any size never sits in memory, and
the file is complete (and known to be UTF-8) before anything of it lands."""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from libs.common.errors import PayloadTooLarge, Unprocessable


@dataclass(frozen=True)
class Spooled:
    path: Path
    bytes: int
    sha256: str


async def spool(chunks: AsyncIterator[bytes], *, max_bytes: int, directory: str | None) -> Spooled:
    """Write the stream to a temp file; the caller deletes it (`Spooled.path`)."""
    fd, name = tempfile.mkstemp(prefix="mindlake-csv-", suffix=".csv", dir=directory)
    path = Path(name)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"the file is over {max_bytes} bytes")
                digest.update(chunk)
                decoder.decode(chunk)
                await anyio.to_thread.run_sync(out.write, chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        await anyio.Path(path).unlink(missing_ok=True)
        raise Unprocessable("the file is not UTF-8 text") from exc
    except BaseException:
        await anyio.Path(path).unlink(missing_ok=True)
        raise
    return Spooled(path=path, bytes=size, sha256=digest.hexdigest())
