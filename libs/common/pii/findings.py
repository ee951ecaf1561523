"""What detection returns, and how overlapping candidates are reduced to one per span."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Entity names follow Presidio's, so findings read the same in both worlds.
PERSON = "PERSON"
EMAIL_ADDRESS = "EMAIL_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
US_SSN = "US_SSN"
CREDIT_CARD = "CREDIT_CARD"
IBAN_CODE = "IBAN_CODE"
IP_ADDRESS = "IP_ADDRESS"
URL = "URL"
MEDICAL_ID = "MEDICAL_ID"


@dataclass(frozen=True)
class Finding:
    """One detected identifier: `text[start:end]` is of class `entity`."""

    entity: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ScrubResult:
    """Anonymized text, with the findings located in the *original* text."""

    text: str
    findings: tuple[Finding, ...]


def resolve_overlaps(candidates: Iterable[Finding]) -> list[Finding]:
    """Keep at most one finding per character: the longest, then the highest score.

    Greedy in priority order; a text holds a handful of candidates, so the quadratic
    overlap check is cheaper than an interval tree.
    """
    ranked = sorted(candidates, key=lambda f: (f.start - f.end, -f.score, f.start))
    kept: list[Finding] = []
    for cand in ranked:
        if cand.end <= cand.start:
            continue
        if all(cand.end <= k.start or cand.start >= k.end for k in kept):
            kept.append(cand)
    kept.sort(key=lambda f: f.start)
    return kept
