"""The asyncio logger: `log()` appends to a buffer; a background task on the caller's loop
does the sending, so the loop never waits on the network or the disk."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from mindlake_client.buffer import EntryBuffer
from mindlake_client.config import ClientConfig
from mindlake_client.engine import Engine
from mindlake_client.intake import Entry, Intake
from mindlake_client.status import Counters, HealthStatus, Rejection

OnRejected = Callable[[list[Rejection]], None]


class AsyncDataLakeLogger(Intake):
    """Log from asyncio code. Use one logger per process and event loop::

        logger = AsyncDataLakeLogger.from_env(on_rejected=report)
        logger.log(MoodLog(user_id="u_1", score=7))   # no await: it only buffers
        ...
        await logger.shutdown()                       # at exit: send or spill the rest

    `log()` may also be called from other threads. The sender starts on the first `log()`
    made inside a running loop (or `await logger.start()`, or `async with logger`).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        config: ClientConfig | None = None,
        on_rejected: OnRejected | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **settings: Any,
    ) -> None:
        if config is None:
            config = ClientConfig(url=url or "", api_key=api_key or "", **settings)
        self.config = config
        self.buffer = EntryBuffer(config.max_buffered, config.buffer_size, self._notify)
        self._engine = Engine(config, self.buffer, on_rejected, transport)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        on_rejected: OnRejected | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **overrides: Any,
    ) -> AsyncDataLakeLogger:
        """Settings from `MINDLAKE_URL`, `MINDLAKE_API_KEY` and the other `MINDLAKE_*`."""
        config = ClientConfig.from_env(env, **overrides)
        return cls(config=config, on_rejected=on_rejected, transport=transport)

    def log(self, entry: Entry) -> str:
        self._ensure_started()
        return super().log(entry)

    def log_batch(self, entries: Any) -> list[str | None]:
        self._ensure_started()
        return super().log_batch(entries)

    async def start(self) -> None:
        self._ensure_started()

    async def flush(self) -> None:
        """Wait until everything logged so far is acknowledged by the API or spilled."""
        self._ensure_started()
        await self._engine.flush()

    async def shutdown(self, timeout_s: float | None = None) -> None:
        """Send what is buffered (within `timeout_s`, default `shutdown_timeout_s`), spill
        the rest, close the connections. Later `log()` calls raise `LoggerClosed`."""
        if self._closed:
            return
        self._closed = True
        self._ensure_started()
        await self._engine.shutdown(
            self.config.shutdown_timeout_s if timeout_s is None else timeout_s
        )

    async def health_check(self) -> HealthStatus:
        self._ensure_started()
        return await self._engine.health()

    @property
    def counters(self) -> Counters:
        return self._engine.snapshot()

    async def __aenter__(self) -> AsyncDataLakeLogger:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()

    def _ensure_started(self) -> None:
        if self._engine.started:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not in a loop yet: the entries wait in the buffer
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._engine.start()

    def _notify(self) -> None:
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._engine.wake()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._engine.wake)
