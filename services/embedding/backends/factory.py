"""The backend the settings ask for: OpenAI when `auto` and a key is set, else the local model."""

from __future__ import annotations

import threading

from services.embedding.backends.base import Embedder
from services.embedding.config import EmbeddingSettings

_shared: dict[str, Embedder] = {}
_lock = threading.Lock()


def backend_name(settings: EmbeddingSettings) -> str:
    if settings.embedding_backend == "auto":
        return "openai" if settings.embedding_openai_api_key else settings.embedding_local_runtime
    return settings.embedding_backend


def embedder_for(settings: EmbeddingSettings) -> Embedder:
    name = backend_name(settings)
    if name == "openai":
        from services.embedding.backends.openai import OpenAIEmbedder

        return OpenAIEmbedder(settings)
    from services.embedding.backends.local import LocalEmbedder

    return LocalEmbedder(
        name,
        threads=settings.embedding_threads,
        batch_size=settings.embedding_batch_size,
        onnx_dir=settings.embedding_onnx_dir,
    )


def shared_embedder(settings: EmbeddingSettings) -> Embedder:
    """One model per process and backend (search and personas share the loaded model)."""
    name = backend_name(settings)
    with _lock:
        if name not in _shared:
            _shared[name] = embedder_for(settings)
        return _shared[name]
