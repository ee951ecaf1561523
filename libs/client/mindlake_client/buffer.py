"""The bounded in-memory buffer between `log()` and the sender.

`append` never blocks on I/O: it takes a lock held for a few list operations, so it is safe
from any thread (the sync logger's callers) and cheap on an event loop. When the buffer is
full the oldest entry is dropped and counted; the sender spills to disk long before that
while the API is unreachable (see engine.py), so this is the last resort.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from mindlake_client.encoding import BODY_OVERHEAD

log = logging.getLogger("mindlake_client")
WARN_EVERY_S = 10.0


class EntryBuffer:
    def __init__(self, max_entries: int, notify_every: int, notify: Callable[[], None]) -> None:
        self.max_entries = max_entries
        self.notify_every = notify_every
        self.notify = notify
        self.appended = 0
        self.invalid = 0  # refused by log(): counted here, under the same lock
        self.dropped = 0
        self._items: deque[bytes] = deque()
        self._lock = threading.Lock()
        self._last_warning = 0.0

    def __len__(self) -> int:
        return len(self._items)

    def append(self, items: list[bytes]) -> None:
        with self._lock:
            wake = self._push(items)
            self.appended += len(items)
        if wake:
            self.notify()

    def _push(self, items: list[bytes]) -> bool:
        """Append under the lock, the oldest dropped when full; whether a batch filled up."""
        dropped = 0
        wake = False
        for item in items:
            if len(self._items) >= self.max_entries:
                self._items.popleft()
                dropped += 1
            self._items.append(item)
            # wake the sender once per full batch, not once per entry
            if len(self._items) % self.notify_every == 0:
                wake = True
        self.dropped += dropped
        if dropped:
            self._warn_dropped(dropped)
        return wake

    def count_invalid(self, count: int) -> None:
        with self._lock:
            self.invalid += count

    def take(self, max_entries: int, max_body_bytes: int) -> list[bytes]:
        """The oldest entries that fit one request: at most `max_entries`, and a JSON body of
        at most `max_body_bytes`."""
        out: list[bytes] = []
        size = BODY_OVERHEAD
        with self._lock:
            while self._items and len(out) < max_entries:
                item = self._items[0]
                extra = len(item) + (1 if out else 0)
                if out and size + extra > max_body_bytes:
                    break
                out.append(self._items.popleft())
                size += extra
        return out

    def take_all(self) -> list[bytes]:
        with self._lock:
            out = list(self._items)
            self._items.clear()
        return out

    def put_back(self, items: list[bytes]) -> None:
        """Return entries to the front (oldest first), e.g. when a send was cut short."""
        with self._lock:
            self._items.extendleft(reversed(items))
            overflow = len(self._items) - self.max_entries
            for _ in range(max(overflow, 0)):
                self._items.popleft()
            self.dropped += max(overflow, 0)
        if overflow > 0:
            self._warn_dropped(overflow)

    def requeue(self, items: list[bytes]) -> None:
        """Entries to send again after everything buffered now (not counted as logged)."""
        with self._lock:
            self._push(items)

    def _warn_dropped(self, count: int) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            log.warning(
                "mindlake_client buffer full: dropped the %d oldest entries (%d in total); "
                "the API is unreachable and the disk spill is off or cannot keep up",
                count,
                self.dropped,
            )
