"""The metrics every model is judged by, on the same held-out rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def evaluate(y: np.ndarray, score: np.ndarray, threshold_high: float) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), Brier score, recall and precision at the high-risk
    threshold, and the share of rows flagged high. Needs both classes in `y`."""
    y = np.asarray(y, dtype=np.int8)
    flagged = score >= threshold_high
    positives = int(y.sum())
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "brier": float(brier_score_loss(y, score)),
        "recall_at_high": float(flagged[y == 1].mean()) if positives else 0.0,
        "precision_at_high": float(y[flagged].mean()) if flagged.any() else 0.0,
        "flagged_share": float(flagged.mean()),
        "rows": len(y),
        "positives": positives,
        # a constant guess of the positive rate: the Brier score a model must get below
        "brier_no_skill": float(y.mean() * (1 - y.mean())),
    }


def beats(candidate: dict[str, Any], other: dict[str, Any], *, brier_too: bool) -> bool:
    """Better ROC AUC, and (when asked) a Brier score no worse."""
    better_auc = bool(candidate["roc_auc"] > other["roc_auc"])
    return better_auc and (not brier_too or candidate["brier"] <= other["brier"])
