"""Categorization by an LLM (the openai client: OpenAI or any compatible endpoint), when
configured; the offline categorizer otherwise, and for any batch the LLM cannot answer.

What is sent: the records' scrubbed text only (prepare.py), numbered within the batch. The
reply must be JSON of REPLY_SCHEMA (structured output), name every record once and use only
the five categories; a reply that does not is rejected, counted by reason, and asked again
(`embedding_persona_openai_attempts`). A batch never accepted falls back to the offline
categorizer, so a file always finishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import structlog
from pydantic import BaseModel, Field, ValidationError

from services.embedding.config import EmbeddingSettings
from services.embedding.personas.categorize import Categorizer, OfflineCategorizer
from services.embedding.personas.metrics import LLM_REPLIES
from services.embedding.personas.prepare import Prepared
from services.embedding.personas.vocabulary import CATEGORIES

log = structlog.get_logger(__name__)
CategoryName = Literal["financial", "social", "professional", "entertainment", "health_wellbeing"]


class RecordCategories(BaseModel):
    index: int = Field(ge=0)
    categories: list[CategoryName] = Field(max_length=5)
    rationale: str = Field(max_length=300)


class Reply(BaseModel):
    records: list[RecordCategories]


REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["records"],
    "properties": {
        "records": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["index", "categories", "rationale"],
                "properties": {
                    "index": {"type": "integer"},
                    "categories": {"type": "array", "items": {"enum": list(CATEGORIES)}},
                    "rationale": {"type": "string"},
                },
            },
        }
    },
}
SYSTEM_PROMPT = (
    "You sort records from a person's own data exports (bank statements, social media, "
    "subscriptions, notes) into categories: financial, social, professional, entertainment, "
    "health_wellbeing. A record may belong to several or none. For every record, by its "
    "index, give its categories and a rationale of at most 20 words. Personal details were "
    "replaced by tags such as <PERSON>; never guess them."
)


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_reply(content: str | None, n: int) -> list[RecordCategories]:
    """The reply's records in index order, or Rejected with a fixed reason."""
    if not content:
        raise Rejected("empty")
    try:
        reply = Reply.model_validate_json(content)
    except ValidationError as exc:
        kind = "json" if any(e["type"] == "json_invalid" for e in exc.errors()) else "schema"
        raise Rejected(kind) from exc
    by_index = {r.index: r for r in reply.records}
    if sorted(by_index) != list(range(n)) or len(reply.records) != n:
        raise Rejected("indices")
    return [by_index[i] for i in range(n)]


class LlmCategorizer:
    def __init__(self, settings: EmbeddingSettings, fallback: Categorizer | None = None) -> None:
        from openai import OpenAI

        assert settings.embedding_persona_openai_api_key is not None
        self.settings = settings
        self.model = settings.embedding_persona_openai_model
        self.name = f"llm:{self.model}"
        self.client = OpenAI(
            api_key=settings.embedding_persona_openai_api_key.get_secret_value(),
            base_url=settings.embedding_persona_openai_base_url,
            timeout=settings.embedding_persona_openai_timeout_s,
            max_retries=2,  # transport errors and 429/5xx, with the client's backoff
        )
        self._fallback = fallback
        self.rejected = 0  # replies rejected while categorizing this file
        self.fallbacks = 0  # batches the offline categorizer answered instead

    def _ask(self, items: Sequence[Prepared]) -> str | None:
        numbered = "\n".join(f"{i}: {item.text}" for i, item in enumerate(items))
        reply = self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": numbered},
            ],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "categories", "strict": True, "schema": REPLY_SCHEMA},
            },
            temperature=0,
        )
        return reply.choices[0].message.content

    def _batch(self, items: Sequence[Prepared]) -> list[dict[str, Any]]:
        for _ in range(self.settings.embedding_persona_openai_attempts):
            try:
                answers = parse_reply(self._ask(items), len(items))
            except Rejected as exc:
                self.rejected += 1
                LLM_REPLIES.labels(f"rejected_{exc.reason}").inc()
                continue
            except Exception as exc:  # the API failed after the client's own retries
                LLM_REPLIES.labels("failed").inc()
                log.warning("persona_llm_failed", error_type=type(exc).__name__)
                break
            LLM_REPLIES.labels("accepted").inc()
            return [
                {
                    "categories": {c: 1.0 for c in dict.fromkeys(a.categories)}
                    or {"uncategorized": 0.0},
                    "why": {c: a.rationale for c in a.categories},
                }
                for a in answers
            ]
        self.fallbacks += 1
        LLM_REPLIES.labels("fallback").inc()
        if self._fallback is None:
            self._fallback = OfflineCategorizer(self.settings)
        return self._fallback.categorize(items)

    def categorize(self, items: Sequence[Prepared]) -> list[dict[str, Any]]:
        step = self.settings.embedding_persona_openai_batch
        out: list[dict[str, Any]] = []
        for start in range(0, len(items), step):
            out += self._batch(items[start : start + step])
        return out


def categorizer_for(settings: EmbeddingSettings) -> Categorizer:
    mode = settings.embedding_persona_categorizer
    has_key = settings.embedding_persona_openai_api_key is not None
    if mode == "llm" and not has_key:
        raise ValueError(
            "embedding_persona_categorizer is 'llm' but MINDLAKE_EMBEDDING_PERSONA_OPENAI_API_KEY "
            "is not set"
        )
    if mode == "llm" or (mode == "auto" and has_key):
        return LlmCategorizer(settings)
    return OfflineCategorizer(settings)
