"""One POST of a batch to /v1/logs, and what its reply means for each entry.

| reply | entries |
|---|---|
| 202 | all acknowledged; the reply's per-entry `errors` go to on_rejected (not retried) |
| 422 | none valid: all go to on_rejected (not retried) |
| 413 | the batch is split in halves and each half sent; a single entry goes to on_rejected |
| 408, 429, 5xx, network error, timeout | not acknowledged: retried (Retry-After honoured) |
| other 4xx (400, 401, 403, 415) | not retried: all go to on_rejected, a warning is logged |

A batch that keeps getting 500 is split to find the entry that fails: poison.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import httpx

from mindlake_client.config import ClientConfig
from mindlake_client.encoding import entry_meta, request_body
from mindlake_client.retry import parse_retry_after
from mindlake_client.status import Counters, Rejection

log = logging.getLogger("mindlake_client")
P = ParamSpec("P")
R = TypeVar("R")


class Offload(Protocol):
    """Runs blocking work (gzip, file I/O): `asyncio.to_thread` on the caller's loop; a plain
    call on the sync logger's private loop, whose thread nobody else waits on (and where
    executors may already be shut down at interpreter exit)."""

    def __call__(
        self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[R]: ...


async def inline(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    return func(*args, **kwargs)


LOGS_PATH = "/v1/logs"
RETRYABLE = frozenset({408, 429})
INLINE_GZIP_BYTES = 16 * 1024  # smaller bodies compress in microseconds: no thread hop


@dataclass
class Result:
    """`remaining`: the entries not acknowledged (always a suffix of the batch), to retry."""

    remaining: list[bytes]
    retry_after: float | None = None
    error: str | None = None
    status: int | None = None  # the HTTP status of a failed reply (None: no reply)


class Sender:
    def __init__(
        self,
        http: httpx.AsyncClient,
        config: ClientConfig,
        counters: Counters,
        report: Callable[[list[Rejection]], None],
        offload: Offload = asyncio.to_thread,
    ) -> None:
        self.offload = offload
        self.http = http
        self.config = config
        self.counters = counters
        self.report = report

    async def post(self, entries: list[bytes]) -> Result:
        headers = {"Content-Type": "application/json"}
        if self.config.compress:
            headers["Content-Encoding"] = "gzip"
        if sum(len(e) for e in entries) < INLINE_GZIP_BYTES:
            body = request_body(entries, self.config.compress)
        else:  # gzip of up to 500 KB takes milliseconds: keep it off the event loop
            body = await self.offload(request_body, entries, self.config.compress)
        self.counters.requests += 1
        try:
            response = await self.http.post(LOGS_PATH, content=body, headers=headers)
        except httpx.TransportError as exc:  # connect/read errors and timeouts
            self.counters.failed_requests += 1
            return Result(entries, None, f"{type(exc).__name__} posting to the API")
        status = response.status_code
        if status == 202:
            self._on_accepted(entries, _json(response))
            return Result([])
        if status == 413:
            return await self._split(entries, response)
        if status == 422:
            self._reject_listed(entries, _json(response), status)
            return Result([])
        if status in RETRYABLE or status >= 500:
            self.counters.failed_requests += 1
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), self.config.retry_after_max_s
            )
            return Result(entries, retry_after, f"HTTP {status} from the API", status)
        detail = _detail(_json(response))
        log.warning(
            "mindlake_client: the API refused a batch of %d entries with HTTP %d (%s); "
            "they are not retried",
            len(entries),
            status,
            detail,
        )
        self._reject_all(entries, status, f"HTTP {status}: {detail}")
        return Result([])

    async def _split(self, entries: list[bytes], response: httpx.Response) -> Result:
        if len(entries) == 1:
            self._reject_all(entries, 413, f"HTTP 413: {_detail(_json(response))}")
            return Result([])
        self.counters.split += 1
        half = len(entries) // 2
        first = await self.post(entries[:half])
        if first.remaining:
            return Result(
                first.remaining + entries[half:], first.retry_after, first.error, first.status
            )
        return await self.post(entries[half:])

    def _on_accepted(self, entries: list[bytes], reply: dict[str, Any]) -> None:
        accepted = reply.get("accepted")
        duplicate = reply.get("duplicate")
        errors = reply.get("errors") or []
        if isinstance(accepted, int) and isinstance(duplicate, int):
            self.counters.accepted += accepted
            self.counters.duplicate += duplicate
        else:  # a 202 without the usual reply: durable all the same
            self.counters.accepted += len(entries) - len(errors)
        if errors:
            self._reject_listed(entries, reply, 202)

    def _reject_listed(self, entries: list[bytes], reply: dict[str, Any], status: int) -> None:
        """Per-entry errors `{index, field, reason}`; with 422 every entry was refused, so
        any entry without its own error gets the reply's detail."""
        rejections: list[Rejection] = []
        listed: set[int] = set()
        for error in reply.get("errors") or []:
            index = error.get("index") if isinstance(error, dict) else None
            if not isinstance(index, int) or not 0 <= index < len(entries) or index in listed:
                continue
            listed.add(index)
            rejections.append(
                rejection(
                    entries[index],
                    str(error.get("field", "entry")),
                    str(error.get("reason", "")),
                    status,
                )
            )
        if status != 202:
            detail = f"HTTP {status}: {_detail(reply)}"
            rejections += [
                rejection(raw, "entry", detail, status)
                for index, raw in enumerate(entries)
                if index not in listed
            ]
        self._report(rejections)

    def _reject_all(self, entries: list[bytes], status: int, reason: str) -> None:
        self._report([rejection(raw, "request", reason, status) for raw in entries])

    def _report(self, rejections: list[Rejection]) -> None:
        if rejections:
            self.counters.rejected += len(rejections)
            self.report(rejections)


def rejection(raw: bytes, field: str, reason: str, status: int) -> Rejection:
    event_id, service = entry_meta(raw)
    return Rejection(event_id, service, field, reason, status, raw)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _detail(problem: dict[str, Any]) -> str:
    # the API's problem+json details never echo submitted values
    return str(problem.get("detail") or problem.get("title") or "no detail")[:300]
