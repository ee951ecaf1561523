"""OpenAI embeddings (or any OpenAI-compatible endpoint at `embedding_openai_base_url`).

- Batches of `embedding_openai_batch_size` texts per request; vectors come back in input order
  (the reply is sorted by `index`) and are normalized to unit length.
- A client-side limiter keeps below `embedding_openai_requests_per_minute` and
  `embedding_openai_tokens_per_minute`: two token buckets, each full at its per-minute limit and
  refilled continuously. Clock and sleep are injectable (tests pass a fake clock).
- Retries with exponential backoff (0.5 s doubling, capped at 30 s, or the reply's
  Retry-After when it asks for at most 60 s) on 429, 5xx, timeouts and connection errors, up to
  `embedding_openai_max_retries`; the openai client's own retries are off so every attempt
  passes the limiter. Other 4xx fail at once.
- Failures raise `OpenAIEmbeddingError` (a 503 `ServiceUnavailable`) whose message names only
  the HTTP status and OpenAI's error code: never the key, never the text, never the reply body.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from libs.common.errors import ServiceUnavailable
from services.embedding.backends.base import ModelInfo, TokenSpans, Vectors, normalized
from services.embedding.config import EmbeddingSettings

DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
MAX_TOKENS = 8191
# A cheap stand-in for OpenAI's BPE (cl100k): every punctuation mark is a token, and words are
# cut into pieces of at most 4 characters (English averages about 4 characters a token). It
# overcounts a little, which is the safe side for both the chunk limit and the token bucket.
_TOKEN = re.compile(r"\w{1,4}|[^\w\s]")
_CODE = re.compile(r"^[a-z0-9_]{1,40}$")
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
RETRY_AFTER_MAX_S = 60.0


class OpenAIEmbeddingError(ServiceUnavailable):
    """The embeddings API failed; the message holds no key, text or reply body."""


class TokenBucket:
    """`capacity` units, refilled at `capacity` per minute."""

    def __init__(
        self, capacity: int, *, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / 60.0
        self.tokens = float(capacity)
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, amount: float) -> float:
        """Wait until `amount` units are there (at most the capacity), take them; the wait."""
        amount = min(float(amount), self.capacity)
        waited = 0.0
        self._refill()
        while self.tokens < amount:
            wait = (amount - self.tokens) / self.rate
            self.sleep(wait)
            waited += wait
            self._refill()
        self.tokens -= amount
        return waited


class RateLimiter:
    def __init__(
        self, requests_per_minute: int, tokens_per_minute: int, *,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.requests = TokenBucket(requests_per_minute, clock=clock, sleep=sleep)
        self.tokens = TokenBucket(tokens_per_minute, clock=clock, sleep=sleep)
        self._lock = threading.Lock()

    def acquire(self, tokens: int) -> float:
        with self._lock:
            return self.requests.take(1) + self.tokens.take(tokens)


def dimension_of(settings: EmbeddingSettings) -> int:
    if settings.embedding_openai_dimensions:
        return settings.embedding_openai_dimensions
    model = settings.embedding_openai_model
    if model not in DIMENSIONS:
        raise ValueError("set embedding_openai_dimensions for an OpenAI model of unknown size")
    return DIMENSIONS[model]


def _describe(exc: Exception) -> str:
    """The status and OpenAI's error code only (both from a fixed vocabulary)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection error"
    if isinstance(exc, openai.APIStatusError):
        code = getattr(exc, "code", None)
        code = code if isinstance(code, str) and _CODE.match(code) else None
        return f"HTTP {exc.status_code}" + (f" ({code})" if code else "")
    return type(exc).__name__


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return True
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code == 429 or exc.status_code >= 500
    )


def _retry_after(exc: Exception) -> float | None:
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = exc.response.headers.get(header)
        try:
            seconds = float(value) / divisor if value is not None else math.nan
        except ValueError:
            continue
        if math.isfinite(seconds) and 0 <= seconds <= RETRY_AFTER_MAX_S:
            return seconds
    return None


class OpenAIEmbedder:
    def __init__(
        self, settings: EmbeddingSettings, *, client: Any = None,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.model = settings.embedding_openai_model
        self.info = ModelInfo(
            name=self.model, version=self.model, dimension=dimension_of(settings),
            max_tokens=MAX_TOKENS,
        )  # fmt: skip
        self.batch_size = settings.embedding_openai_batch_size
        self.max_retries = settings.embedding_openai_max_retries
        self.sleep = sleep
        self.limiter = RateLimiter(
            settings.embedding_openai_requests_per_minute,
            settings.embedding_openai_tokens_per_minute, clock=clock, sleep=sleep,
        )  # fmt: skip
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            key = self.settings.embedding_openai_api_key
            if key is None:
                raise OpenAIEmbeddingError("OpenAI embeddings: no API key is configured")
            self._client = OpenAI(
                api_key=key.get_secret_value(), base_url=self.settings.embedding_openai_base_url,
                timeout=self.settings.embedding_openai_timeout_s, max_retries=0,
            )  # fmt: skip
        return self._client

    def token_spans(self, text: str) -> TokenSpans:
        """An approximation of OpenAI's tokens (see `_TOKEN`), as character offsets."""
        return [m.span() for m in _TOKEN.finditer(text)]

    def token_spans_many(self, texts: Sequence[str]) -> list[TokenSpans]:
        return [self.token_spans(t) for t in texts]

    def count_tokens(self, text: str) -> int:
        return max(1, sum(1 for _ in _TOKEN.finditer(text)))

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.info.dimension), dtype=np.float32)
        parts = [
            self._batch(list(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts, axis=0)

    def _batch(self, texts: list[str]) -> Vectors:
        inputs = [text if text.strip() else " " for text in texts]  # the API refuses ""
        reply = self._with_retries(inputs, sum(self.count_tokens(text) for text in inputs))
        rows = sorted(reply.data, key=lambda item: item.index)
        vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(inputs), self.info.dimension):
            raise OpenAIEmbeddingError("OpenAI embeddings: the reply's vectors have another shape")
        return normalized(vectors)

    def _with_retries(self, inputs: list[str], tokens: int) -> Any:
        self.client  # noqa: B018 - a missing key fails here, before any attempt
        attempt = 0
        while True:
            self.limiter.acquire(tokens)
            try:
                return self._request(inputs)
            except Exception as exc:
                if not _retryable(exc):
                    detail = f"OpenAI embeddings failed: {_describe(exc)}"
                    raise OpenAIEmbeddingError(detail) from None
                if attempt >= self.max_retries:
                    detail = f"OpenAI embeddings failed after {attempt + 1} attempts: "
                    raise OpenAIEmbeddingError(detail + _describe(exc)) from None
                wait = _retry_after(exc)
                if wait is None:
                    wait = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt)
                self.sleep(wait)
                attempt += 1

    def _request(self, inputs: list[str]) -> Any:
        kwargs: dict[str, Any] = {"model": self.model, "input": inputs, "encoding_format": "float"}
        if self.settings.embedding_openai_dimensions:
            kwargs["dimensions"] = self.settings.embedding_openai_dimensions
        return self.client.embeddings.create(**kwargs)
