"""The sender: one asyncio task that moves entries from the buffer to the API or the spill.

Both loggers use it: the async one on the caller's event loop, the sync one on a private loop
in a background thread. Its states:

- up: a batch is sent when `buffer_size` entries are buffered, `flush_interval_s` after the
  last send, or on `flush()`. A transient failure is retried in place (backoff with full
  jitter, or the API's Retry-After) up to `max_attempts` times, as long as each wait is at
  most `max_inline_wait_s`. Meanwhile `log()` keeps buffering; past half of `max_buffered`
  the buffer is spilled to disk so memory stays bounded.
- down: a batch ran out of attempts (or the API asked for a long wait). Entries go straight
  to the spill. After a pause (Retry-After, else a growing backoff up to
  `spill_retry_max_s`) one request probes the API with the oldest spilled entries; when it
  works the spill is resent oldest first, interleaved with fresh entries, and each segment
  is deleted once acknowledged.
- poison: a batch answered HTTP 500 `poison_after` times in a row is split until the entries
  that fail are alone; one proven to make the API fail goes to on_rejected (poison.py).

Without a spill folder the entries wait in memory while the API is down, and the oldest are
dropped (counted, warned) past `max_buffered`. This module is the loop and the lifecycle; one
send (retries, marking the API down or up, spill writes) is link.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime

import httpx

from mindlake_client.buffer import EntryBuffer
from mindlake_client.config import ClientConfig
from mindlake_client.delivery import Offload, Sender
from mindlake_client.encoding import split_batches
from mindlake_client.link import Link
from mindlake_client.poison import PoisonGuard
from mindlake_client.spill import Claim, SpillStore
from mindlake_client.status import Counters, HealthStatus, Rejection

log = logging.getLogger("mindlake_client")


class Engine(Link):
    """The loop (when to send, resend or spill) and the lifecycle; each send is `Link`'s."""

    def __init__(
        self,
        config: ClientConfig,
        buffer: EntryBuffer,
        on_rejected: Callable[[list[Rejection]], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        offload: Offload = asyncio.to_thread,
    ) -> None:
        self._offload = offload
        self.config = config
        self.buffer = buffer
        self.on_rejected = on_rejected
        self.transport = transport
        self.counters = Counters()
        self._poison = PoisonGuard(config, self.counters, self._report)
        spill_path = config.spill_path
        self.spill = SpillStore(spill_path, config.spill_max_bytes) if spill_path else None
        self.last_error: str | None = None
        self.last_success_at: datetime | None = None
        self._high_water = max(config.buffer_size, config.max_buffered // 2)
        self._http: httpx.AsyncClient | None = None
        self._sender: Sender | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._flush_waiters: list[asyncio.Future[None]] = []
        self._in_flight: list[bytes] = []
        self._stopping = False
        self._deadline: float | None = None
        self._down_until = 0.0
        self._down_streak = 0
        self._spill_broken_until = 0.0
        self._lost = 0  # shut down with entries neither acknowledged nor spilled
        self._resend_due = True  # look for spilled entries at start
        self._next_flush = time.monotonic() + config.flush_interval_s

    # -- lifecycle (call on the engine's loop) -----------------------------------------------

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self._http = httpx.AsyncClient(
            base_url=self.config.url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {self.config.api_key}",
                "User-Agent": self.config.user_agent,
            },
            timeout=httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s),
            transport=self.transport,
        )
        self._sender = Sender(self._http, self.config, self.counters, self._report, self._offload)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mindlake-client")

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def flush(self) -> None:
        """Return once everything buffered before the call is acknowledged or spilled."""
        if self._task is None or self._task.done():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._flush_waiters.append(waiter)
        self.wake()
        await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)

    async def shutdown(self, timeout_s: float) -> None:
        """Send what is buffered within `timeout_s`; spill what is left; close."""
        if self._task is None:
            return
        if not self._task.done():
            self._stopping = True
            self._deadline = time.monotonic() + timeout_s
            self.wake()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s + 1.0)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        left = self._in_flight + self.buffer.take_all()
        self._in_flight = []
        if left:
            await self._spill(left, final=True)
        if self.spill is not None:
            await self._offload(self.spill.close)
        if self._http is not None:
            await self._http.aclose()
        self._resolve_waiters(self._flush_waiters)

    async def health(self) -> HealthStatus:
        reachable, api = False, "not checked"
        if self._http is not None:
            try:
                response = await self._http.get("/health", timeout=min(self.config.timeout_s, 5.0))
                reachable = response.status_code == 200
                api = "ok" if reachable else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                api = type(exc).__name__
        spill_bytes = await self._offload(self.spill.disk_bytes) if self.spill else 0
        return HealthStatus(
            reachable=reachable,
            api=api,
            state="down" if self._down_streak else "up",
            buffered=len(self.buffer) + len(self._in_flight),
            spilled=self.spill.pending if self.spill else 0,
            spill_bytes=spill_bytes,
            last_error=self.last_error,
            last_success_at=self.last_success_at,
            counters=self.snapshot(),
        )

    def snapshot(self) -> Counters:
        counters = Counters(**vars(self.counters))
        counters.logged = self.buffer.appended
        counters.invalid = self.buffer.invalid
        counters.dropped = self.buffer.dropped + self._lost
        counters.dropped += self.spill.dropped if self.spill else 0
        return counters

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        if self.spill is not None:
            try:
                await self._offload(self.spill.open)
            except OSError as exc:
                log.warning("mindlake_client cannot use its spill folder (%s)", type(exc).__name__)
                self.spill = None
        while True:
            await self._wait_for_work()
            try:
                await self._cycle()
            except Exception as exc:  # a bug must not stop logging for good
                log.exception("mindlake_client sender failed; retrying shortly")
                self.last_error = type(exc).__name__
                self.buffer.put_back(self._in_flight)  # the batch it was sending, if any
                self._in_flight = []
                await asyncio.sleep(1.0)
            if self._stopping:
                return

    def _has_work(self) -> bool:
        if self._stopping or self._flush_waiters:
            return True
        if len(self.buffer) >= self.config.buffer_size:
            # while down, only if the entries can go to disk (else they wait in memory)
            return not self._is_down() or self._can_spill()
        return self._resend_due and not self._is_down()

    async def _wait_for_work(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            if self._has_work():
                return
            until = self._down_until if self._is_down() else self._next_flush
            timeout = until - time.monotonic()
            if timeout <= 0:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return

    async def _cycle(self) -> None:
        waiters, self._flush_waiters = self._flush_waiters, []
        # a partial batch goes out only when due: interval elapsed, flush() or shutdown
        due = bool(waiters) or self._stopping or time.monotonic() >= self._next_flush
        try:
            if self._is_down():
                await self._spill(self.buffer.take_all())
                return
            if not self._stopping:
                await self._resend_spilled()
            await self._send_buffer(full_only=not due)
        finally:
            if due:
                self._next_flush = time.monotonic() + self.config.flush_interval_s
            self._resolve_waiters(waiters)

    async def _send_buffer(self, *, full_only: bool = False) -> None:
        while len(self.buffer) >= (self.config.buffer_size if full_only else 1):
            if self._is_down():
                await self._spill(self.buffer.take_all())
                return
            batch = self.buffer.take(self.config.max_batch_entries, self.config.max_batch_bytes)
            self._in_flight = batch
            left = await self._deliver(batch)
            self._in_flight = []
            if left:
                if self.spill is None:  # wait in memory for the API to come back
                    self.buffer.put_back(left)
                    return
                await self._spill(left)

    async def _resend_spilled(self) -> None:
        self._resend_due = False
        if self.spill is None:
            return
        while not self._is_down():
            claim = await self._offload(self.spill.claim)
            if claim is None:
                return
            if not await self._resend(claim):
                self._resend_due = True
                return
            if len(self.buffer) >= self.config.buffer_size:  # fresh entries do not wait long
                await self._send_buffer(full_only=True)

    async def _resend(self, claim: Claim) -> bool:
        assert self.spill is not None
        acknowledged = 0
        try:
            for batch in split_batches(
                claim.items, self.config.max_batch_entries, self.config.max_batch_bytes
            ):
                left = await self._deliver(batch)
                acknowledged += len(batch) - len(left)
                if left:
                    return False
            return True
        finally:
            self.counters.resent += acknowledged
            # file closes and an unlink: quick enough to run here, even on cancellation
            if acknowledged == len(claim.items):
                self.spill.finish(claim)
            else:
                self.spill.release(claim, acknowledged)

    @staticmethod
    def _resolve_waiters(waiters: list[asyncio.Future[None]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
