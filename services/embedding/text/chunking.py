"""Token-based chunks with overlap, so no chunk is longer than the model reads.

A chunk is a character range of the document, cut on token boundaries: its text is
`document[start:end]`, and the range (not the text) is what a point keeps, so a search reads
the snippet back from the lake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.embedding.backends.base import TokenSpans


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # character offsets into the document
    end: int
    text: str


def chunk(
    text: str, spans: TokenSpans | Callable[[str], TokenSpans], *, size: int, overlap: int
) -> list[Chunk]:
    """Windows of `size` tokens, each starting `size - overlap` tokens after the one before.

    A document with no tokens (only whitespace) has no chunks."""
    if overlap >= size:
        raise ValueError("the overlap must be smaller than the chunk")
    tokens = spans(text) if callable(spans) else spans
    if not tokens:
        return []
    step = size - overlap
    chunks: list[Chunk] = []
    first = 0
    while True:
        last = min(first + size, len(tokens)) - 1
        start, end = tokens[first][0], tokens[last][1]
        chunks.append(Chunk(len(chunks), start, end, text[start:end]))
        if last == len(tokens) - 1:
            return chunks
        first += step
