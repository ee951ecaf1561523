"""The disk spill: what could not be sent waits here, in append-only JSONL segments.

One folder holds segments named `<time_ns>-<pid>-<rand>.jsonl`, one encoded entry a line,
fsynced on every append. A writer holds an exclusive `flock` on its open segment; a sender
claims the oldest segment it can lock, resends it and deletes it once every entry was
acknowledged (accepted, duplicate or rejected by the API). Several processes (uvicorn
workers) may share a folder: each segment has one owner at a time. A crash after the API
acknowledged but before the delete only causes a resend, which the API counts as duplicate
(the client-set `event_id` is the dedup key).

Size cap: when an append would take the folder past `max_bytes`, the oldest segments are
deleted first (their entries counted in `dropped` and logged as a warning); nothing is
dropped silently. All methods do blocking file I/O: the async engine calls them in a thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

try:  # POSIX; elsewhere one process per spill folder
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("mindlake_client")
SUFFIX = ".jsonl"
MAX_SEGMENT_BYTES = 1024 * 1024
WARN_EVERY_S = 10.0


def _try_lock(handle: BinaryIO) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass
class Claim:
    """A segment this process owns until `finish` or `release`: `items` are the entries not
    yet acknowledged, `start` how many before them were (by this process)."""

    path: Path
    handle: BinaryIO
    items: list[bytes]
    start: int
    total: int


@dataclass
class _Writer:
    path: Path
    handle: BinaryIO
    size: int = 0


class SpillStore:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = max(min(MAX_SEGMENT_BYTES, max_bytes // 8), 1)
        self.pending = 0  # entries on disk, as far as this process knows
        self.dropped = 0  # entries deleted to respect max_bytes
        self.corrupt = 0  # unreadable lines (a torn write after a crash)
        self._bytes = 0
        self._writer: _Writer | None = None
        self._progress: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last_warning = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Create the folder (owner-only: it holds personal data) and count what is there."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock:
            self._bytes = 0
            self.pending = 0
            for path in self._segments():
                with contextlib.suppress(FileNotFoundError):
                    data = path.read_bytes()
                    self._bytes += len(data)
                    self.pending += data.count(b"\n")

    def close(self) -> None:
        with self._lock:
            self._seal()

    def disk_bytes(self) -> int:
        total = 0
        for path in self._segments():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    # -- writing -----------------------------------------------------------------------------

    def append(self, items: list[bytes]) -> None:
        if not items:
            return
        with self._lock:
            items = self._make_room(items)
            if not items:
                return
            data = b"".join(item + b"\n" for item in items)
            writer = self._writer
            if writer is None or (writer.size and writer.size + len(data) > self.segment_bytes):
                self._seal()
                writer = self._writer = self._new_segment()
            writer.handle.write(data)
            writer.handle.flush()
            os.fsync(writer.handle.fileno())
            writer.size += len(data)
            self._bytes += len(data)
            self.pending += len(items)

    def _new_segment(self) -> _Writer:
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        temporary = self.directory / f"{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        handle = os.fdopen(fd, "ab")
        _try_lock(handle)  # a new file: nobody else can hold it
        final = self.directory / f"{name}{SUFFIX}"
        # visible to claimers only once locked, so no one can claim it between open and lock
        os.rename(temporary, final)
        return _Writer(final, handle)

    def _seal(self) -> None:
        """Close our open segment: from now on any sender (this one too) may claim it."""
        if self._writer is not None:
            self._writer.handle.close()
            self._writer = None

    def _make_room(self, items: list[bytes]) -> list[bytes]:
        incoming = sum(len(i) + 1 for i in items)
        if self._bytes + incoming <= self.max_bytes:
            return items
        self._bytes = self.disk_bytes()  # other processes may have sent and deleted some
        dropped = 0
        for path in self._segments():
            if self._bytes + incoming <= self.max_bytes:
                break
            if self._writer is not None and path == self._writer.path:
                self._seal()
            dropped += self._drop_segment(path)
        while items and self._bytes + incoming > self.max_bytes:
            incoming -= len(items[0]) + 1
            items = items[1:]
            dropped += 1
        if dropped:
            self.dropped += dropped
            self._warn_dropped(dropped)
        return items

    def _drop_segment(self, path: Path) -> int:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return 0
        with handle:
            if not _try_lock(handle):
                return 0  # another process is sending it
            data = handle.read()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        lines = data.count(b"\n")
        self._bytes -= len(data)
        self.pending = max(self.pending - lines, 0)
        self._progress.pop(path.name, None)
        return lines

    def _warn_dropped(self, count: int) -> None:
        now = time.monotonic()
        if now - self._last_warning < WARN_EVERY_S:
            return
        self._last_warning = now
        log.warning(
            "mindlake_client spill folder full (%d bytes): dropped the %d oldest entries "
            "(%d in total); the API has been unreachable for long",
            self.max_bytes,
            count,
            self.dropped,
        )

    # -- resending ---------------------------------------------------------------------------

    def claim(self) -> Claim | None:
        """The oldest segment no other sender holds, sealing ours first so it is included."""
        with self._lock:
            self._seal()
            for path in self._segments():
                claim = self._claim(path)
                if claim is not None:
                    return claim
        return None

    def _claim(self, path: Path) -> Claim | None:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return None
        if not _try_lock(handle) or os.fstat(handle.fileno()).st_nlink == 0:
            handle.close()  # held by another sender, or deleted since we listed it
            return None
        data = handle.read()
        lines = data.split(b"\n")
        if lines and lines[-1]:  # no final newline: a torn last write
            self.corrupt += 1
            log.warning("mindlake_client skipped a torn line at the end of a spill segment")
        items = [line for line in lines[:-1] if line]
        if not items:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._bytes -= len(data)
            return None
        start = min(self._progress.get(path.name, 0), len(items))
        return Claim(path, handle, items[start:], start, len(items))

    def finish(self, claim: Claim) -> None:
        """Every entry of the segment was acknowledged: delete it."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                size = claim.path.stat().st_size
                claim.path.unlink()
                self._bytes -= size
            claim.handle.close()
            self.pending = max(self.pending - claim.total, 0)
            self._progress.pop(claim.path.name, None)

    def release(self, claim: Claim, acknowledged: int) -> None:
        """Keep the segment for later; remember how far it got (a restart resends it all,
        and the API dedups)."""
        with self._lock:
            self._progress[claim.path.name] = claim.start + acknowledged
            claim.handle.close()

    def _segments(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        except FileNotFoundError:
            return []
