"""Embedding settings: the common ones plus `MINDLAKE_EMBEDDING_*`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr

from libs.common.contracts import TaskName
from libs.common.schedules import BeatSchedule, cron, job
from libs.common.settings import CommonSettings

Backend = Literal["auto", "torch", "onnx", "onnx-int8", "openai"]
# The services whose text is embedded (services/embedding/text/sources.py says which fields).
DEFAULT_SOURCES = [
    "journal-service",
    "lyfbot-service",
    "ai-service",
    "chat-service",
    "community-service",
]


class EmbeddingSettings(CommonSettings):
    # `auto`: OpenAI when an API key is set, else the local model on its default runtime.
    embedding_backend: Backend = "auto"
    # ONNX fp32: faster than torch with the same vectors and recall (bench/embedding.py);
    # int8 is faster still but loses recall, so it is opt-in.
    embedding_local_runtime: Literal["torch", "onnx", "onnx-int8"] = "onnx"
    # Threads of the local model in one worker process; 0: every core. Set before the model
    # loads (torch in a forked worker hangs in encode() otherwise).
    embedding_threads: int = Field(0, ge=0)
    embedding_batch_size: int = Field(64, ge=1)  # texts per encode call
    embedding_onnx_dir: str = "var/models"  # where the ONNX export of the local model is kept
    # OpenAI (when the key is set): model, batching, client-side rate limits, retries.
    embedding_openai_api_key: SecretStr | None = None
    embedding_openai_base_url: str | None = None  # another OpenAI-compatible endpoint
    embedding_openai_model: str = "text-embedding-3-small"
    embedding_openai_dimensions: int | None = None  # shortened vectors (text-embedding-3-*)
    embedding_openai_batch_size: int = Field(256, ge=1, le=2048)
    embedding_openai_requests_per_minute: int = Field(3000, ge=1)
    embedding_openai_tokens_per_minute: int = Field(1_000_000, ge=1)
    embedding_openai_max_retries: int = Field(6, ge=0)
    embedding_openai_timeout_s: float = 60.0
    # Chunking: tokens per chunk (the local model reads at most 256) and tokens shared by
    # neighbouring chunks.
    embedding_chunk_tokens: int = Field(200, ge=16)
    embedding_chunk_overlap: int = Field(32, ge=0)
    embedding_sources: list[str] = Field(default_factory=lambda: list(DEFAULT_SOURCES))
    # Schedules (UTC). The daily run is the source document's 02:00; with follow on, a run
    # is also sent this often and finds the lake's new rows promptly after each flush.
    embedding_sync_cron: str = "0 2 * * *"
    embedding_follow_interval_s: float = Field(0.0, ge=0)  # 0: off
    embedding_reconcile_cron: str = "30 4 * * 0"  # weekly, Sundays
    embedding_backup_cron: str = "30 3 * * *"  # daily
    embedding_backup_prefix: str = "embeddings"
    embedding_backup_keep: int = Field(7, ge=1)  # backups kept per model
    embedding_withdrawn_interval_s: float = 300.0  # the sweep behind consent.changed
    # Search.
    embedding_search_max_k: int = Field(50, ge=1)
    embedding_qdrant_lock_timeout_s: float = 60.0  # wait this long for local mode's lock
    # Personas (services/embedding/personas): uploads of a user's own data exports.
    embedding_persona_prefix: str = "personas"  # <prefix>/<subject_key>/stage1|stage2|stage3/
    embedding_persona_max_bytes: int = Field(200 << 20, ge=1)  # an upload over this: 413
    # Larger files wait for POST .../uploads/{id}/process (the source document's 10 MB).
    embedding_persona_auto_max_bytes: int = Field(10 << 20, ge=0)
    embedding_persona_max_records: int = Field(100_000, ge=1)  # records read from one file
    # `auto`: the LLM when its API key is set, else offline (local embeddings + spaCy).
    embedding_persona_categorizer: Literal["auto", "offline", "llm"] = "auto"
    embedding_persona_min_score: float = Field(0.3, ge=0, le=1)  # a category's lowest score
    embedding_persona_openai_api_key: SecretStr | None = None
    embedding_persona_openai_base_url: str | None = None
    embedding_persona_openai_model: str = "gpt-4o-mini"
    embedding_persona_openai_batch: int = Field(40, ge=1, le=200)  # records per request
    embedding_persona_openai_attempts: int = Field(3, ge=1)  # a rejected reply is asked again
    embedding_persona_openai_timeout_s: float = 60.0


@lru_cache
def get_embedding_settings() -> EmbeddingSettings:
    return EmbeddingSettings()


def beat_schedule() -> BeatSchedule:
    """Embedding's scheduled jobs (libs/common/schedules.py gathers every service's)."""
    s = get_embedding_settings()
    schedule: BeatSchedule = {
        "embedding-daily": job(TaskName.EMBEDDING_SYNC, cron(s.embedding_sync_cron), expires=3600),
        "embedding-reconcile": job(
            TaskName.EMBEDDING_RECONCILE, cron(s.embedding_reconcile_cron), expires=3600
        ),
        "embedding-backup": job(
            TaskName.EMBEDDING_BACKUP, cron(s.embedding_backup_cron), expires=3600
        ),
        "embedding-drop-withdrawn": job(
            TaskName.EMBEDDING_DROP_WITHDRAWN, s.embedding_withdrawn_interval_s,
            expires=s.embedding_withdrawn_interval_s,
        ),
    }  # fmt: skip
    if s.embedding_follow_interval_s:
        schedule["embedding-follow"] = job(
            TaskName.EMBEDDING_SYNC, s.embedding_follow_interval_s,
            expires=s.embedding_follow_interval_s,
        )  # fmt: skip
    return schedule
