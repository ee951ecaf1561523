"""The transparent rule baseline ("rules-1"): points for warning signs, squashed into 0-1.

It is what a trained model has to beat, and what scores when no model has earned the
champion alias. Every point is one readable rule, so its explanation is the rules that fired.
A group's rules are skipped when its data is missing (its values are imputed, not observed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from services.risk.features.columns import MODEL_INPUTS

VERSION = "rules-1"

Rule = tuple[str, float, Callable[[np.ndarray], np.ndarray], str | None]

# (feature, points, fires when, skipped when this missingness indicator is 1)
RULES: tuple[Rule, ...] = (
    ("mood_mean_7", 2.0, lambda v: v <= 4.0, "mood_missing"),
    ("mood_mean_7", 1.0, lambda v: (v > 4.0) & (v <= 5.5), "mood_missing"),
    ("mood_trend_14", 1.5, lambda v: v <= -0.15, "mood_missing"),
    ("mood_trend_14", 0.5, lambda v: (v > -0.15) & (v <= -0.05), "mood_missing"),
    ("engagement_drop", 1.0, lambda v: v >= 0.4, "activity_missing"),
    ("late_night_share_14", 0.5, lambda v: v >= 0.3, "activity_missing"),
    ("crisis_hits_14", 3.0, lambda v: v >= 1, "sentiment_missing"),
    ("negative_share_14", 1.5, lambda v: v >= 0.5, "sentiment_missing"),
    ("sentiment_mean_14", 0.5, lambda v: v <= -0.3, "sentiment_missing"),
)
# points -> probability-like score: 4 points is an even chance, each point doubles the odds.
MIDPOINT, SLOPE = 4.0, np.log(2.0)


class RuleBaseline:
    version = VERSION
    inputs: tuple[str, ...] = MODEL_INPUTS

    def points(self, X: np.ndarray) -> np.ndarray:
        """Per row and rule, the points it earned (rows x rules)."""
        column = {name: i for i, name in enumerate(self.inputs)}
        earned = np.zeros((len(X), len(RULES)))
        for j, (feature, points, fires, skip_when) in enumerate(RULES):
            hit = fires(X[:, column[feature]])
            if skip_when is not None:
                hit = hit & (X[:, column[skip_when]] < 0.5)
            earned[:, j] = np.where(hit, points, 0.0)
        return earned

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _squash(self.points(np.asarray(X, dtype=np.float64)).sum(axis=1))

    def explain(self, X: np.ndarray, top: int = 3) -> list[list[dict[str, Any]]]:
        """The features whose rules fired, largest first; a contribution is how much the score
        would fall without that feature's points (probability units, like a trained model's)."""
        X = np.asarray(X, dtype=np.float64)
        column = {name: i for i, name in enumerate(self.inputs)}
        earned = self.points(X)
        total = earned.sum(axis=1)
        result = []
        for i in range(len(X)):
            by_feature: dict[str, float] = {}
            for j, (feature, *_) in enumerate(RULES):
                if earned[i, j] > 0:
                    by_feature[feature] = by_feature.get(feature, 0.0) + float(earned[i, j])
            full = float(_squash(total[i : i + 1])[0])
            drop = {
                f: full - float(_squash(total[i : i + 1] - p)[0]) for f, p in by_feature.items()
            }
            ranked = sorted(drop.items(), key=lambda kv: -kv[1])[:top]
            result.append(
                [
                    {"feature": f, "value": float(X[i, column[f]]), "contribution": c}
                    for f, c in ranked
                ]
            )
        return result


def _squash(points: np.ndarray) -> np.ndarray:
    score: np.ndarray = 1 / (1 + np.exp(-SLOPE * (points - MIDPOINT)))
    return score
