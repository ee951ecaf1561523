"""The LLM categorizer against a local fake of OpenAI's chat completions API (the real openai
client over HTTP; only OpenAI's side is fake): structured output accepted, a malformed or
incomplete reply rejected, counted and asked again, and a batch never answered falls back to
the offline categorizer. What is sent is the scrubbed text only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from scripts.persona_samples import BANK_CSV
from services.embedding.config import EmbeddingSettings
from services.embedding.personas.llm import LlmCategorizer, Rejected, categorizer_for, parse_reply
from services.embedding.personas.parsing import records
from services.embedding.personas.prepare import prepare

ROWS = BANK_CSV.splitlines()[:4]  # the header and three transactions
SAMPLE = "\n".join([*ROWS, "2026-02-14,Transfer to Jonathan Whitfield,-150.00,GBP"]) + "\n"


class FakeOpenAI:
    """Answers each POST with the next of `replies` (the last one repeats)."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.bodies: list[dict[str, Any]] = []


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip


@contextmanager
def serving(fake: FakeOpenAI) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            fake.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            content = fake.replies[min(len(fake.bodies), len(fake.replies)) - 1]
            data = json.dumps(completion(content)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def settings(url: str) -> EmbeddingSettings:
    return EmbeddingSettings(
        embedding_backend="torch",
        embedding_persona_openai_api_key=SecretStr("sk-test"),
        embedding_persona_openai_base_url=url,
        embedding_persona_openai_attempts=3,
    )


def valid(n: int) -> str:
    return json.dumps({"records": [
        {"index": i, "categories": ["financial"], "rationale": "a card payment"} for i in range(n)
    ]})  # fmt: skip


def metric(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("mindlake_persona_llm_replies_total", {"outcome": outcome}) or 0.0
    )


@pytest.fixture(scope="module")
def items() -> list[Any]:
    return prepare(list(records([SAMPLE.encode()], "csv", limit=100)))


def test_a_malformed_reply_is_rejected_counted_and_asked_again(items: list[Any]) -> None:
    fake = FakeOpenAI(["{not json", valid(len(items))])
    before_json, before_ok = metric("rejected_json"), metric("accepted")
    with serving(fake) as url:
        categorizer = categorizer_for(settings(url))
        assert isinstance(categorizer, LlmCategorizer) and categorizer.name == "llm:gpt-4o-mini"
        out = categorizer.categorize(items)
    assert len(fake.bodies) == 2 and categorizer.rejected == 1 and categorizer.fallbacks == 0
    assert metric("rejected_json") == before_json + 1 and metric("accepted") == before_ok + 1
    assert [o["categories"] for o in out] == [{"financial": 1.0}] * len(items)
    assert out[0]["why"] == {"financial": "a card payment"}
    request = fake.bodies[0]
    assert request["response_format"]["type"] == "json_schema"
    sent = json.dumps(request)
    assert "Whitfield" not in sent and "<PERSON>" in sent  # the scrubbed text only


def test_replies_that_miss_records_or_invent_categories_are_rejected(items: list[Any]) -> None:
    n = len(items)
    missing = json.dumps({"records": [{"index": 0, "categories": ["social"], "rationale": "x"}]})
    invented = valid(n).replace('"financial"', '"gambling"')
    fake = FakeOpenAI([missing, invented, valid(n)])
    with serving(fake) as url:
        categorizer = LlmCategorizer(settings(url))
        out = categorizer.categorize(items)
    assert categorizer.rejected == 2 and len(out) == n
    with pytest.raises(Rejected) as why:
        parse_reply(missing, n)
    assert why.value.reason == "indices"
    with pytest.raises(Rejected) as why:
        parse_reply(invented, n)
    assert why.value.reason == "schema"


def test_a_batch_never_answered_falls_back_offline(items: list[Any]) -> None:
    fake = FakeOpenAI(["[]"])
    before = metric("fallback")
    with serving(fake) as url:
        categorizer = LlmCategorizer(settings(url))
        out = categorizer.categorize(items)
    assert len(fake.bodies) == 3 and categorizer.rejected == 3 and categorizer.fallbacks == 1
    assert metric("fallback") == before + 1
    assert all("financial" in o["categories"] for o in out)  # the offline categorizer's answer
    assert "similarity" in out[0]["why"]["financial"]


def test_llm_mode_without_a_key_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="MINDLAKE_EMBEDDING_PERSONA_OPENAI_API_KEY"):
        categorizer_for(EmbeddingSettings(embedding_persona_categorizer="llm"))
