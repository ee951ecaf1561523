"""The sender's link to the API: a batch's retries, the up/down state, and the spill writes.

`Engine` (engine.py) runs the loop that decides what to send and when; this base class holds
what one send does and the state it leaves behind. `_deliver` posts a batch with retries in
place (backoff with full jitter, or the API's Retry-After), hands a batch that keeps failing
with HTTP 500 to the poison guard, and marks the API down when a batch runs out of attempts;
`_spill` writes entries to the spill folder, or puts them back in memory when there is none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from mindlake_client.buffer import EntryBuffer
from mindlake_client.config import ClientConfig
from mindlake_client.delivery import Offload, Result, Sender
from mindlake_client.poison import PoisonGuard
from mindlake_client.retry import equal_jitter, full_jitter
from mindlake_client.spill import SpillStore
from mindlake_client.status import Counters, Rejection

log = logging.getLogger("mindlake_client")
SPILL_BROKEN_PAUSE_S = 5.0


class Link:
    """The state a send reads and leaves; `Engine.__init__` sets every attribute."""

    config: ClientConfig
    buffer: EntryBuffer
    counters: Counters
    on_rejected: Callable[[list[Rejection]], None] | None
    spill: SpillStore | None
    last_error: str | None
    last_success_at: datetime | None
    _offload: Offload
    _poison: PoisonGuard
    _sender: Sender | None
    _wake: asyncio.Event | None
    _deadline: float | None
    _high_water: int
    _down_until: float
    _down_streak: int
    _spill_broken_until: float
    _lost: int
    _resend_due: bool

    async def _deliver(self, batch: list[bytes]) -> list[bytes]:
        """Send with retries; returns the entries still not acknowledged."""
        assert self._sender is not None
        probe = self._down_streak > 0  # the API was down: one try, then back to waiting
        attempt = 0
        while True:
            result = await self._post(batch)
            if not result.remaining:
                self._mark_up()
                return []
            batch = result.remaining
            attempt += 1
            self.last_error = result.error
            if self._poison.due:
                return await self._isolate(batch)
            if result.retry_after is not None:
                wait = result.retry_after
            else:
                wait = full_jitter(attempt, self.config.backoff_base_s, self.config.backoff_max_s)
            if probe or attempt >= self.config.max_attempts or wait > self.config.max_inline_wait_s:
                self._mark_down(result.retry_after)
                return batch
            self.counters.retries += 1
            if not await self._pause(wait):  # shutting down: the rest goes to the spill
                self._mark_down(result.retry_after)
                return batch

    async def _post(self, batch: list[bytes]) -> Result:
        assert self._sender is not None
        result = await self._sender.post(batch)
        self._poison.observe(batch, result)
        return result

    async def _isolate(self, batch: list[bytes]) -> list[bytes]:
        """The batch keeps failing with HTTP 500: find the entries that make it fail."""
        isolated = await self._poison.isolate(batch, self._post, self._pause)
        if isolated.deferred:  # unproven: after the newer entries (spill or buffer's end)
            self.counters.deferred += len(isolated.deferred)
            if self._can_spill():
                await self._spill(isolated.deferred)
            else:
                self.buffer.requeue(isolated.deferred)
        if isolated.remaining or isolated.deferred:
            self._mark_down(None)  # nothing proved the API takes entries: pause, then others
            return isolated.remaining
        self._mark_up()
        return []

    async def _pause(self, seconds: float) -> bool:
        """Wait before a retry, spilling the buffer if it grows large meanwhile. False when
        shutdown's deadline comes first."""
        assert self._wake is not None
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            if self._deadline is not None and end > self._deadline:
                return False
            self._wake.clear()
            if self.spill is not None and len(self.buffer) >= self._high_water:
                await self._spill(self.buffer.take_all())
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)
        return True

    # -- state -------------------------------------------------------------------------------

    def _is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def _can_spill(self) -> bool:
        return self.spill is not None and time.monotonic() >= self._spill_broken_until

    def _mark_down(self, retry_after: float | None) -> None:
        self._down_streak += 1
        if retry_after is not None:
            pause = retry_after
        else:
            base = max(self.config.backoff_base_s, 0.01)
            pause = equal_jitter(self._down_streak, base, self.config.spill_retry_max_s)
        self._down_until = time.monotonic() + pause
        self._resend_due = True
        if self._down_streak == 1:
            log.warning(
                "mindlake_client: the API is unreachable (%s); entries go to the spill "
                "folder until it answers again",
                self.last_error,
            )

    def _mark_up(self) -> None:
        if self._down_streak:
            log.info("mindlake_client: the API answers again; resending spilled entries")
        self._down_streak = 0
        self._down_until = 0.0
        self.last_success_at = datetime.now(UTC)

    async def _spill(self, items: list[bytes], *, final: bool = False) -> None:
        if not items:
            return
        if not self._can_spill():
            if final:
                self._lost += len(items)
                log.warning(
                    "mindlake_client shut down with %d entries the API did not acknowledge "
                    "and no usable spill folder: they are lost",
                    len(items),
                )
            else:
                self.buffer.put_back(items)
            return
        try:
            await self._offload(self.spill.append, items)  # type: ignore[union-attr]
        except OSError as exc:
            log.warning("mindlake_client cannot write its spill folder (%s)", type(exc).__name__)
            self._spill_broken_until = time.monotonic() + SPILL_BROKEN_PAUSE_S
            await self._spill(items, final=final)
            return
        self.counters.spilled += len(items)
        self._resend_due = True

    def _report(self, rejections: list[Rejection]) -> None:
        if self.on_rejected is None:
            return
        try:
            self.on_rejected(rejections)
        except Exception:
            log.exception("mindlake_client on_rejected callback failed")
