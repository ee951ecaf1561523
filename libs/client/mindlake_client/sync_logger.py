"""The thread-based logger: `log()` appends to a buffer from any thread; a daemon thread runs
the sender (the same engine as the async logger, on a private event loop)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from mindlake_client.async_logger import OnRejected
from mindlake_client.buffer import EntryBuffer
from mindlake_client.config import ClientConfig
from mindlake_client.delivery import inline
from mindlake_client.engine import Engine
from mindlake_client.intake import Intake
from mindlake_client.status import Counters, HealthStatus

T = TypeVar("T")


class DataLakeLogger(Intake):
    """Log from ordinary (threaded) code::

        logger = DataLakeLogger.from_env(on_rejected=report)
        logger.log(JournalLog(user_id="u_1", text="..."))  # returns at once
        logger.shutdown()  # also done at interpreter exit

    `on_rejected` runs on the logger's thread.
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
        # blocking work runs on the sender's own thread: no thread hops, and nothing needs an
        # executor at interpreter exit, when shutdown() runs from atexit
        self._engine = Engine(config, self.buffer, on_rejected, transport, offload=inline)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mindlake-client", daemon=True
        )
        self._thread.start()
        self._call(self._start(), timeout_s=10.0)
        # a strong reference: a logger dropped without shutdown() still sends or spills at exit
        atexit.register(self._shutdown_at_exit)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        on_rejected: OnRejected | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **overrides: Any,
    ) -> DataLakeLogger:
        """Settings from `MINDLAKE_URL`, `MINDLAKE_API_KEY` and the other `MINDLAKE_*`."""
        config = ClientConfig.from_env(env, **overrides)
        return cls(config=config, on_rejected=on_rejected, transport=transport)

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until everything logged so far is acknowledged by the API or spilled."""
        if not self._closed:
            self._call(self._engine.flush(), timeout_s)

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Send what is buffered (within `timeout_s`, default `shutdown_timeout_s`), spill
        the rest, stop the thread. Later `log()` calls raise `LoggerClosed`."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._shutdown_at_exit)
        timeout = self.config.shutdown_timeout_s if timeout_s is None else timeout_s
        try:
            self._call(self._engine.shutdown(timeout), timeout + 5.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)
            if not self._thread.is_alive():
                self._loop.close()

    def health_check(self, timeout_s: float | None = 10.0) -> HealthStatus:
        return self._call(self._engine.health(), timeout_s)

    @property
    def counters(self) -> Counters:
        return self._engine.snapshot()

    def __enter__(self) -> DataLakeLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    async def _start(self) -> None:
        self._engine.start()

    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def _notify(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutdown is under way
            self._loop.call_soon_threadsafe(self._engine.wake)

    def _shutdown_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.shutdown()
