"""The one interface every embedding backend offers, and what a vector is labelled with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]  # (texts, dimension), each row of unit length
# A text's tokens as (start, end) character offsets: chunking cuts on them.
TokenSpans = list[tuple[int, int]]


@dataclass(frozen=True)
class ModelInfo:
    """What every point is labelled with. `name` and `dimension` decide the collection: vectors
    of another model (or of a quantized variant, which moves them) never share one."""

    name: str  # e.g. "all-minilm-l6-v2", "all-minilm-l6-v2-int8", "text-embedding-3-small"
    version: str  # the weights' package version, or the API model's name
    dimension: int
    max_tokens: int  # the longest input the model reads; chunks stay below it


class Embedder(Protocol):
    info: ModelInfo

    def token_spans(self, text: str) -> TokenSpans:
        """The text's tokens as the model counts them (no special tokens)."""
        ...

    def token_spans_many(self, texts: Sequence[str]) -> list[TokenSpans]:
        """`token_spans` of each text, in order (one batched call where the tokenizer can)."""
        ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One unit-length float32 vector per text, in order."""
        ...


def normalized(vectors: npt.NDArray[np.floating]) -> Vectors:
    as32 = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(as32, axis=1, keepdims=True)
    unit: Vectors = as32 / np.maximum(norms, 1e-12)
    return unit
