"""The OpenAI backend against a local fake of the embeddings HTTP API (the real openai client,
real HTTP on loopback; only OpenAI's side is fake). Sleeps and the limiter's clock are fake."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from services.embedding.backends.openai import (
    OpenAIEmbedder,
    OpenAIEmbeddingError,
    RateLimiter,
)
from services.embedding.config import EmbeddingSettings

KEY = "sk-test-secret-key-0123456789"
SECRET_TEXT = "I told nobody about the panic attack at work"

Reply = tuple[int, dict[str, str], dict[str, Any]]


class FakeOpenAI:
    """Answers POST /v1/embeddings; `script` replies first, then real-looking vectors."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: list[Reply] = []
        self.dimension = 1536
        self.reverse = True  # reply rows out of order: the client must sort by index

    def vector(self, text: str) -> list[float]:
        rng = np.random.default_rng(abs(hash(text)) % 2**32)
        return [float(x) * 3 for x in rng.normal(size=self.dimension)]  # not unit length

    def reply(self, body: dict[str, Any]) -> Reply:
        if self.script:
            return self.script.pop(0)
        dimension = body.get("dimensions") or self.dimension
        rows = [
            {"object": "embedding", "index": i, "embedding": self.vector(t)[:dimension]}
            for i, t in enumerate(body["input"])
        ]
        if self.reverse:
            rows.reverse()
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return 200, {}, {"object": "list", "data": rows, "model": body["model"], "usage": usage}


@pytest.fixture
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    api = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            api.requests.append(body)
            api.headers.append({k.lower(): v for k, v in self.headers.items()})
            status, headers, payload = api.reply(body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def embedder(base_url: str, time: FakeTime, **overrides: Any) -> OpenAIEmbedder:
    values: dict[str, Any] = {
        "embedding_openai_api_key": SecretStr(KEY),
        "embedding_openai_base_url": base_url,
        "embedding_openai_timeout_s": 10.0,
        **overrides,
    }
    return OpenAIEmbedder(EmbeddingSettings(**values), clock=time.clock, sleep=time.sleep)


def error(status: int, code: str) -> Reply:
    body = {"error": {"message": f"echo {SECRET_TEXT} {KEY}", "type": code, "code": code}}
    return status, {}, body


def test_batches_order_normalized_and_info(fake: tuple[FakeOpenAI, str]) -> None:
    api, url = fake
    e = embedder(url, FakeTime(), embedding_openai_batch_size=3)
    texts = [f"entry {i}: slept badly again" for i in range(7)]
    vectors = e.encode(texts)
    assert [len(r["input"]) for r in api.requests] == [3, 3, 1]
    assert [t for r in api.requests for t in r["input"]] == texts
    assert all(
        r["model"] == "text-embedding-3-small" and "dimensions" not in r for r in api.requests
    )
    assert api.headers[0]["authorization"] == f"Bearer {KEY}"
    assert vectors.shape == (7, 1536) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    expected = np.asarray(api.vector(texts[4]), dtype=np.float32)
    np.testing.assert_allclose(vectors[4], expected / np.linalg.norm(expected), rtol=1e-5)
    assert e.info.name == e.info.version == "text-embedding-3-small"
    assert (e.info.dimension, e.info.max_tokens) == (1536, 8191)
    assert e.encode([]).shape == (0, 1536)


def test_dimensions_passed_and_known_sizes(fake: tuple[FakeOpenAI, str]) -> None:
    api, url = fake
    e = embedder(url, FakeTime(), embedding_openai_dimensions=256)
    assert e.encode(["a", "b"]).shape == (2, 256)
    assert api.requests[0]["dimensions"] == 256 and e.info.dimension == 256
    large = embedder(url, FakeTime(), embedding_openai_model="text-embedding-3-large")
    ada = embedder(url, FakeTime(), embedding_openai_model="text-embedding-ada-002")
    assert (large.info.dimension, ada.info.dimension) == (3072, 1536)


def test_429_then_success_is_retried_with_backoff(fake: tuple[FakeOpenAI, str]) -> None:
    api, url = fake
    time = FakeTime()
    api.script = [error(429, "rate_limit_exceeded"), error(503, "server_error")]
    vectors = embedder(url, time).encode(["one", "two"])
    assert vectors.shape == (2, 1536) and len(api.requests) == 3
    assert time.sleeps == [0.5, 1.0]  # exponential, no real sleeping


def test_retry_after_header_is_honoured(fake: tuple[FakeOpenAI, str]) -> None:
    api, url = fake
    time = FakeTime()
    status, _, body = error(429, "rate_limit_exceeded")
    api.script = [(status, {"retry-after": "7"}, body)]
    embedder(url, time).encode(["one"])
    assert time.sleeps == [7.0]


def test_error_after_retries_is_clear_and_leaks_nothing(fake: tuple[FakeOpenAI, str]) -> None:
    api, url = fake
    time = FakeTime()
    api.script = [error(500, "server_error")] * 4
    with pytest.raises(OpenAIEmbeddingError) as caught:
        embedder(url, time, embedding_openai_max_retries=3).encode([SECRET_TEXT])
    message = str(caught.value)
    assert message == "OpenAI embeddings failed after 4 attempts: HTTP 500 (server_error)"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert caught.value.status == 503
    assert len(api.requests) == 4 and time.sleeps == [0.5, 1.0, 2.0]


def test_client_errors_are_not_retried(fake: tuple[FakeOpenAI, str]) -> None:
    api, url = fake
    api.script = [error(401, "invalid_api_key")]
    with pytest.raises(OpenAIEmbeddingError) as caught:
        embedder(url, FakeTime()).encode([SECRET_TEXT])
    assert str(caught.value) == "OpenAI embeddings failed: HTTP 401 (invalid_api_key)"
    assert KEY not in repr(caught.value) and SECRET_TEXT not in repr(caught.value)
    assert len(api.requests) == 1


def test_connection_errors_are_retried_then_reported() -> None:
    time = FakeTime()
    e = embedder("http://127.0.0.1:9/v1", time, embedding_openai_max_retries=2)
    with pytest.raises(OpenAIEmbeddingError, match=r"after 3 attempts: connection error$"):
        e.encode([SECRET_TEXT])
    assert time.sleeps == [0.5, 1.0]


def test_limiter_spaces_requests_and_tokens() -> None:
    time = FakeTime()
    limiter = RateLimiter(60, 600, clock=time.clock, sleep=time.sleep)  # 1 req/s, 10 tokens/s
    waits = [limiter.acquire(1) for _ in range(62)]
    assert waits[:60] == [0.0] * 60  # the bucket starts full
    assert waits[60:] == pytest.approx([1.0, 1.0])
    time2 = FakeTime()
    limiter = RateLimiter(1000, 600, clock=time2.clock, sleep=time2.sleep)
    assert limiter.acquire(600) == 0.0
    assert limiter.acquire(100) == pytest.approx(10.0)
    assert limiter.acquire(10_000) == pytest.approx(60.0)  # capped at one minute's worth


def test_limiter_applies_to_batches(fake: tuple[FakeOpenAI, str]) -> None:
    api, url = fake
    time = FakeTime()
    e = embedder(url, time, embedding_openai_batch_size=1, embedding_openai_requests_per_minute=2)
    e.encode(["a", "b", "c", "d"])
    assert len(api.requests) == 4
    assert time.sleeps == pytest.approx([30.0, 30.0])


def test_token_spans_approximate() -> None:
    e = OpenAIEmbedder(EmbeddingSettings(embedding_openai_api_key=SecretStr(KEY)))
    text = "Can't sleep, again."
    spans = e.token_spans(text)
    assert [text[a:b] for a, b in spans] == ["Can", "'", "t", "slee", "p", ",", "agai", "n", "."]
    assert e.count_tokens("") == 1


def test_no_key_is_a_clear_error() -> None:
    e = OpenAIEmbedder(EmbeddingSettings(embedding_openai_api_key=None))
    with pytest.raises(OpenAIEmbeddingError, match="no API key"):
        e.encode(["x"])
