"""Risk models: the interface scoring uses, the rule baseline, and the champion from the lake.

A trained model's artifacts are at `<path>/model.joblib` (its path is in the `models` table).
joblib is pickle: it loads only from our own lake, which only the training job writes.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any, Protocol

import joblib
import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from libs.common.lake import Lake
from services.risk.config import RiskSettings
from services.risk.features.columns import FEATURE_SET_VERSION
from services.risk.model.baseline import RuleBaseline
from services.risk.models import ModelRow

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
CHAMPION = "champion"

Explanation = list[list[dict[str, Any]]]


class RiskModel(Protocol):
    version: str
    inputs: tuple[str, ...]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """A calibrated probability per row (X: rows x inputs, in `inputs` order)."""
        ...

    def explain(self, X: np.ndarray, top: int = 3) -> Explanation:
        """Per row, the top contributing features, largest first:
        [{"feature": name, "value": float, "contribution": float}]."""
        ...


class TrainedModel:
    """A calibrated classifier with what it needs to explain itself.

    A contribution is occlusion: how much the probability falls when the feature is set to
    its training median (its usual value), so the units match the rule baseline's."""

    def __init__(
        self,
        version: str,
        inputs: tuple[str, ...],
        estimator: Any,
        reference: np.ndarray,
        feature_set: str = FEATURE_SET_VERSION,
    ) -> None:
        self.version = version
        self.inputs = inputs
        self.estimator = estimator
        self.reference = reference
        self.feature_set = feature_set

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if len(X) == 0:
            return np.zeros(0)
        proba: np.ndarray = self.estimator.predict_proba(X)[:, 1]
        return proba

    def explain(self, X: np.ndarray, top: int = 3) -> Explanation:
        X = np.asarray(X, dtype=np.float64)
        n, k = X.shape if X.ndim == 2 else (0, len(self.inputs))
        if n == 0:
            return []
        full = self.predict(X)
        # One batch: each feature of each row replaced by the reference, all at once.
        occluded = np.repeat(X[None, :, :], k, axis=0)
        for j in range(k):
            occluded[j, :, j] = self.reference[j]
        without = self.predict(occluded.reshape(k * n, k)).reshape(k, n)
        contribution = full[None, :] - without  # k x n
        result = []
        for i in range(n):
            order = np.argsort(-contribution[:, i], kind="stable")[:top]
            result.append(
                [
                    {
                        "feature": self.inputs[j],
                        "value": float(X[i, j]),
                        "contribution": float(contribution[j, i]),
                    }
                    for j in order
                ]
            )
        return result

    def dumps(self) -> bytes:
        payload = {
            "version": self.version,
            "inputs": list(self.inputs),
            "feature_set": self.feature_set,
            "estimator": self.estimator,
            "reference": self.reference,
        }
        buffer = io.BytesIO()
        joblib.dump(payload, buffer)
        return buffer.getvalue()

    @classmethod
    def loads(cls, data: bytes) -> TrainedModel:
        payload = joblib.load(io.BytesIO(data))
        return cls(
            version=payload["version"],
            inputs=tuple(payload["inputs"]),
            estimator=payload["estimator"],
            reference=np.asarray(payload["reference"], dtype=np.float64),
            feature_set=payload["feature_set"],
        )


def rule_baseline() -> RiskModel:
    return RuleBaseline()


_loaded: dict[str, TrainedModel] = {}  # by version: a version's artifacts never change


def load_model(lake: Lake, path: str, version: str) -> TrainedModel:
    if version not in _loaded:
        _loaded[version] = TrainedModel.loads(lake.read_bytes(f"{path}/{MODEL_FILE}"))
    return _loaded[version]


async def champion_row(engine: AsyncEngine) -> ModelRow | None:
    async with AsyncSession(engine) as session:
        row: ModelRow | None = await session.scalar(
            select(ModelRow).where(ModelRow.alias == CHAMPION)
        )
        return row


async def model_rows(engine: AsyncEngine, limit: int = 50) -> list[ModelRow]:
    """Model versions, newest first."""
    async with AsyncSession(engine) as session:
        rows = await session.scalars(
            select(ModelRow).order_by(ModelRow.created_at.desc()).limit(limit)
        )
        return list(rows)


async def champion(engine: AsyncEngine, lake: Lake, settings: RiskSettings) -> RiskModel | None:
    """The model with the champion alias, or None (no champion yet, or one trained on another
    feature set than the one built now: it cannot read today's features)."""
    row = await champion_row(engine)
    if row is None:
        return None
    model = load_model(lake, row.path, row.version)
    if model.feature_set != FEATURE_SET_VERSION:
        log.warning(
            "champion %s reads feature set %s, not %s: not used",
            row.version,
            model.feature_set,
            FEATURE_SET_VERSION,
        )
        return None
    return model


def read_json(lake: Lake, path: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(lake.read_bytes(f"{path}/{name}"))
    return data
