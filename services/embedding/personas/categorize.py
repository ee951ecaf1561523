"""Which categories each record belongs to, and why.

Offline (the default, no network): the record's scrubbed text compared with a description of
each category by the embedding service's model (cosine similarity), plus what the record
names: an amount is financial, a social platform or a post social, a streaming service
entertainment, an employer or role professional, an activity or a gym health and wellbeing.
A record falls in every category within MARGIN of its best score and above the settings'
minimum; the item records the scores and the signals behind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from services.embedding.backends.base import Embedder
from services.embedding.backends.factory import backend_name, shared_embedder
from services.embedding.config import EmbeddingSettings
from services.embedding.personas.prepare import Prepared
from services.embedding.personas.vocabulary import (
    CATEGORIES,
    DESCRIPTIONS,
    POST_SECTIONS,
    PROFESSIONAL_SECTIONS,
    SOCIAL_SECTIONS,
)

MARGIN = 0.15
SIGNAL_WEIGHT = 0.3  # what one signal adds to a category's similarity
MAX_BOOST = 0.5
UNCATEGORIZED = "uncategorized"


class Categorizer(Protocol):
    name: str

    def categorize(self, items: Sequence[Prepared]) -> list[dict[str, Any]]:
        """Per item {"categories": {category: score}, "why": {category: reason}}."""
        ...


def signals(item: Prepared) -> dict[str, list[str]]:
    """The named evidence of each category in one record."""
    e, section = item.entities, (item.fields.section or "").lower()
    out: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    if "amount" in e or e.get("money_mentions"):
        out["financial"].append("amount")
    if e.get("institutions"):
        out["financial"].append("institution")
    if e.get("platforms"):
        out["social"].append("platform")
    if section in SOCIAL_SECTIONS or "counts" in e:
        out["social"].append(f"section:{section}" if section in SOCIAL_SECTIONS else "audience")
    if section in POST_SECTIONS and item.fields.free_text:
        out["social"].append("post")
    if e.get("services"):
        out["entertainment"].append("service")
    if e.get("wellbeing_services"):
        out["health_wellbeing"].append("service")
    if e.get("activities"):
        out["health_wellbeing"].append("activity")
    if e.get("employer") or e.get("role") or e.get("professional_platforms"):
        out["professional"].append("employer or role")
    if e.get("skills") or section in PROFESSIONAL_SECTIONS:
        out["professional"].append("skills or experience")
    return out


def choose(
    similarity: dict[str, float], evidence: dict[str, list[str]], minimum: float
) -> dict[str, Any]:
    scores = {
        c: round(min(1.0, similarity[c] + min(MAX_BOOST, SIGNAL_WEIGHT * len(evidence[c]))), 3)
        for c in CATEGORIES
    }
    best = max(scores.values())
    chosen = {c: s for c, s in scores.items() if s >= minimum and s >= best - MARGIN}
    why = {
        c: f"similarity {similarity[c]:.2f}" + "".join(f", {s}" for s in evidence[c])
        for c in chosen
    }
    return {"categories": chosen or {UNCATEGORIZED: round(best, 3)}, "why": why}


_DESCRIPTION_VECTORS: dict[tuple[str, str], np.ndarray] = {}  # by backend and model


def _description_vectors(backend: str, embedder: Embedder) -> np.ndarray:
    key = (backend, embedder.info.name)
    if key not in _DESCRIPTION_VECTORS:  # a race computes it twice, harmlessly
        _DESCRIPTION_VECTORS[key] = embedder.encode([DESCRIPTIONS[c] for c in CATEGORIES])
    return _DESCRIPTION_VECTORS[key]


class OfflineCategorizer:
    def __init__(self, settings: EmbeddingSettings, embedder: Embedder | None = None) -> None:
        self.embedder = embedder or shared_embedder(settings)
        self.minimum = settings.embedding_persona_min_score
        self.name = f"offline:{self.embedder.info.name}"
        self._descriptions = _description_vectors(backend_name(settings), self.embedder)

    def similarities(self, items: Sequence[Prepared]) -> list[dict[str, float]]:
        vectors = self.embedder.encode([i.text or "-" for i in items])
        sims = np.clip(vectors @ self._descriptions.T, 0.0, 1.0)
        return [{c: float(row[j]) for j, c in enumerate(CATEGORIES)} for row in sims]

    def categorize(self, items: Sequence[Prepared]) -> list[dict[str, Any]]:
        if not items:
            return []
        return [
            choose(sim, signals(item), self.minimum)
            for sim, item in zip(self.similarities(items), items, strict=True)
        ]
