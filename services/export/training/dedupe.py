"""Exact and near-duplicate removal, first seen wins (the caller feeds records in a stable
order, so the same records are kept every run).

Exact: the SHA-256 of the normalized pair (case-folded, punctuation dropped, whitespace
collapsed): "I feel sad." and "i feel  SAD" are one record.
Near: MinHash (datasketch, fixed seed, SHA-1 based hashes: no per-process randomness) over
word 2-shingles of the normalized pair (chat turns are short: one changed word in 3-shingles
of a 40-word pair already costs 15 % similarity), with an LSH index for candidates; a
candidate counts as a near duplicate when the exact Jaccard similarity of the shingle sets
reaches `threshold` (the MinHash estimate only finds candidates, so the verdict is exact).
"""

from __future__ import annotations

import hashlib
import re

from datasketch import MinHash, MinHashLSH

DEDUPE_VERSION = "dedupe-1"
NUM_PERM = 64
SEED = 1
SHINGLE_WORDS = 2
DEFAULT_THRESHOLD = 0.8

_NOT_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


# Built once: a MinHash draws its permutations from the seed on every construction (~1 ms).
_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED)


def normalize(text: str) -> str:
    return _SPACE.sub(" ", _NOT_WORD.sub(" ", text.casefold())).strip()


def exact_key(prompt: str, completion: str) -> bytes:
    return hashlib.sha256(f"{normalize(prompt)}\x1f{normalize(completion)}".encode()).digest()


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[bytes]:
    tokens = text.split()
    if len(tokens) <= size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


class Deduper:
    """`check` each record once, in order: None (keep), "duplicate" or "near_duplicate"."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._exact: set[bytes] = set()
        self._raw: set[tuple[str, str]] = set()
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._shingles: list[set[bytes]] = []

    def check(self, prompt: str, completion: str) -> str | None:
        if (prompt, completion) in self._raw:  # the common case, without normalizing
            return "duplicate"
        self._raw.add((prompt, completion))
        key = exact_key(prompt, completion)
        if key in self._exact:
            return "duplicate"
        self._exact.add(key)
        mine = shingles(f"{normalize(prompt)} | {normalize(completion)}")
        sig = MinHash(
            num_perm=NUM_PERM,
            seed=SEED,
            permutations=_TEMPLATE.permutations,
            scheme=_TEMPLATE.scheme,
        )
        sig.update_batch(sorted(mine))
        for other in sorted(self._lsh.query(sig)):
            theirs = self._shingles[other]
            if len(mine & theirs) >= self.threshold * len(mine | theirs):
                return "near_duplicate"
        self._lsh.insert(len(self._shingles), sig)
        self._shingles.append(mine)
        return None
