"""Poison isolation: find the entry that makes the API fail, so it does not stall the others.

A batch the API answers HTTP 500 `poison_after` times in a row is sent again in halves
(oldest first), each part once; a part that fails with 500 is halved again, until the entries
that fail are alone. A part that is acknowledged is done.

Only HTTP 500 counts. 502, 503 and 504 (a proxy or the API saying it is down), 408 and 429,
timeouts and connection errors stop the isolation: the API is down or busy for everyone, and
the batch waits (retried, then spilled) as before.

A 500 is not a proof on its own: the API answers 500 to every request while its database is
down. So an entry that fails alone is *poison* only when it has failed alone `poison_after`
times and the API acknowledged some other request since its first lone failure (it accepts
entries, just not this one). Then it goes to `on_rejected` (status 500) and to
`counters.poisoned`, and is never sent again. Without that proof nothing is rejected:

- if several entries fail alone while nothing is acknowledged (`MAX_UNPROVEN`), the API is
  failing for everyone: the isolation stops and the batch waits, unacknowledged;
- a lone failing entry with nothing to compare it with is *deferred*: it goes to the back of
  the queue (the spill, or the end of the memory buffer), so newer entries are sent before it
  comes up again; their acknowledgement is the proof, or it goes through.

Both loggers share it through the engine.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mindlake_client.config import ClientConfig
from mindlake_client.delivery import Result, rejection
from mindlake_client.retry import full_jitter
from mindlake_client.status import Counters, Rejection

MAX_UNPROVEN = 3  # entries failing alone with nothing acknowledged: the API fails for everyone
MAX_RECORDS = 1000  # lone-failure records kept (bookkeeping only, never entries to send)
POISON_STATUS = 500

Post = Callable[[list[bytes]], Awaitable[Result]]
Pause = Callable[[float], Awaitable[bool]]


@dataclass
class Isolated:
    """`remaining`: not acknowledged, a suffix of the batch (it may include acknowledged
    entries after the first unacknowledged one: resent, the API counts them as duplicates).
    `deferred`: entries that failed alone without proof; to be sent after newer entries."""

    remaining: list[bytes]
    deferred: list[bytes]


@dataclass
class _Suspect:
    fails: int  # lone HTTP 500 replies
    acks_at: int  # the guard's acknowledged posts at its first lone failure


class PoisonGuard:
    def __init__(
        self, config: ClientConfig, counters: Counters, report: Callable[[list[Rejection]], None]
    ) -> None:
        self.config = config
        self.counters = counters
        self.report = report
        self.streak = 0  # HTTP 500 replies in a row, whatever the batch
        self.acks = 0  # posts the API acknowledged
        self._suspects: OrderedDict[bytes, _Suspect] = OrderedDict()

    def observe(self, batch: list[bytes], result: Result) -> None:
        """Called with every reply to a POST of entries."""
        if not result.remaining:
            self.acks += 1
            self.streak = 0
            for raw in batch:  # they went through: not poison after all
                self._suspects.pop(raw, None)
        elif result.status == POISON_STATUS:
            self.streak += 1
        else:
            self.streak = 0

    @property
    def due(self) -> bool:
        return self.streak >= self.config.poison_after

    async def isolate(self, batch: list[bytes], post: Post, pause: Pause) -> Isolated:
        """Send `batch` in ever smaller parts until the entries that fail are alone."""
        self.streak = 0
        acks_before = self.acks
        done = [False] * len(batch)  # acknowledged, or rejected as poison
        deferred: list[int] = []
        parts: deque[tuple[int, int]] = deque([(0, len(batch))])
        stopped = False
        while parts:
            lo, hi = parts.popleft()
            result = await post(batch[lo:hi])
            first = hi - len(result.remaining)  # `remaining` is a suffix of the part
            for i in range(lo, first):
                done[i] = True
            if not result.remaining:
                continue
            if result.status != POISON_STATUS:
                stopped = True  # down or busy for everyone: not a poison entry
                break
            if hi - first > 1:
                mid = (first + hi) // 2
                self.counters.split += 1
                parts.extendleft([(mid, hi), (first, mid)])
                continue
            if self._failed_alone(batch[first]):
                self._reject(batch[first])
                done[first] = True
                continue
            deferred.append(first)
            if self.acks == acks_before and len(deferred) >= MAX_UNPROVEN:
                stopped = True
                break
        if not stopped:
            stopped = await self._confirm(batch, deferred, done, post, pause)
        if stopped:
            start = next((i for i, ok in enumerate(done) if not ok), len(batch))
            return Isolated(batch[start:], [])
        return Isolated([], [batch[i] for i in deferred if not done[i]])

    async def _confirm(
        self, batch: list[bytes], deferred: list[int], done: list[bool], post: Post, pause: Pause
    ) -> bool:
        """Send each entry that failed alone again, alone, while the API is seen accepting
        others, until it goes through or is proven poison. True when the API stops answering
        500 to it (down or busy: stop)."""
        for i in deferred:
            raw = batch[i]
            attempt = 0
            while not done[i] and self._proof(raw):
                attempt += 1
                wait = full_jitter(attempt, self.config.backoff_base_s, self.config.backoff_max_s)
                if not await pause(min(wait, self.config.max_inline_wait_s)):
                    return True  # shutting down
                result = await post([raw])
                if not result.remaining:
                    done[i] = True
                elif result.status != POISON_STATUS:
                    return True
                elif self._failed_alone(raw):
                    self._reject(raw)
                    done[i] = True
        return False

    def _failed_alone(self, raw: bytes) -> bool:
        """Count a lone HTTP 500; True when that makes the entry proven poison."""
        suspect = self._suspects.pop(raw, None) or _Suspect(0, self.acks)
        suspect.fails += 1
        if suspect.fails >= self.config.poison_after and self.acks > suspect.acks_at:
            return True
        self._suspects[raw] = suspect  # most recent last
        while len(self._suspects) > MAX_RECORDS:
            self._suspects.popitem(last=False)
        return False

    def _proof(self, raw: bytes) -> bool:
        suspect = self._suspects.get(raw)
        return suspect is not None and self.acks > suspect.acks_at

    def _reject(self, raw: bytes) -> None:
        self.counters.poisoned += 1
        self.counters.rejected += 1
        reason = (
            f"HTTP 500 from the API every time this entry was sent alone "
            f"({self.config.poison_after} times) while it accepted other entries: the entry "
            f"makes the API fail; it is not retried"
        )
        self.report([rejection(raw, "entry", reason, POISON_STATUS)])
