"""One day's assessment: features of the day (users who grant `risk_assessment` now), scored by
the champion model (the rule baseline until a model has earned the alias), a level from the
thresholds, the top contributing features, then interventions for medium and above.

Re-running a day replaces that day's assessments (one row per user and day) and never sends
a second message the same day (the interventions' own rule).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.catalog import asset_written
from libs.common.lake import Lake
from services.risk.config import RiskSettings
from services.risk.features.build import build_features, write_features
from services.risk.features.columns import MODEL_INPUTS
from services.risk.interventions.service import intervene
from services.risk.model.registry import RiskModel, champion, rule_baseline
from services.risk.models import LEVELS, AssessmentRow
from services.risk.scoring import metrics
from services.risk.scoring.levels import level_of


def matrix(features: pa.Table) -> np.ndarray:
    """The model's input: MODEL_INPUTS in order, as float64 (features arrive imputed)."""
    if features.num_rows == 0:
        return np.zeros((0, len(MODEL_INPUTS)))
    columns = [features.column(c).to_numpy(zero_copy_only=False) for c in MODEL_INPUTS]
    return np.column_stack(columns).astype(np.float64)


def assessment_rows(
    features: pa.Table, model: RiskModel, settings: RiskSettings, day: date
) -> list[dict[str, Any]]:
    x = matrix(features)
    if len(x) == 0:
        return []
    scores = model.predict(x)
    reasons = model.explain(x, top=3)
    now = datetime.now(UTC)
    keys = features.select(["subject_key", "user_id", "coverage"]).to_pylist()
    return [
        {
            "subject_key": k["subject_key"],
            "user_id": k["user_id"],
            "day": day,
            "assessed_at": now,
            "score": float(score),
            "level": level_of(float(score), settings),
            "coverage": float(k["coverage"]),
            "low_coverage": float(k["coverage"]) < settings.risk_low_coverage,
            "model_version": model.version,
            "top_features": top,
        }
        for k, score, top in zip(keys, scores, reasons, strict=True)
    ]


async def save(engine: AsyncEngine, rows: list[dict[str, Any]]) -> list[AssessmentRow]:
    """Upsert by (subject_key, day); the rows as stored."""
    if not rows:
        return []
    values = insert(AssessmentRow).values(rows)
    columns = ("assessed_at", "score", "level", "coverage", "low_coverage", "model_version",
               "top_features", "user_id")  # fmt: skip
    statement = values.on_conflict_do_update(
        index_elements=["subject_key", "day"],
        set_={c: values.excluded[c] for c in columns},
    ).returning(AssessmentRow.id)
    async with engine.begin() as conn:
        ids = list(await conn.scalars(statement))
        stored = await conn.execute(select(AssessmentRow).where(AssessmentRow.id.in_(ids)))
        return [AssessmentRow(**dict(r._mapping)) for r in stored]


async def assess_day(
    engine: AsyncEngine, lake: Lake, settings: RiskSettings, day: date
) -> dict[str, Any]:
    """Features, scores, assessments and interventions of `day`; counts by level."""
    features = await build_features(engine, lake, settings, [day])
    if features.num_rows:
        write_features(lake, settings, features)
        asset_written(settings.risk_features_table, service="risk")
    model = await champion(engine, lake, settings) or rule_baseline()
    stored = await save(engine, assessment_rows(features, model, settings, day))
    levels: Counter[str] = Counter(a.level for a in stored)
    interventions = 0
    for assessment in stored:
        if assessment.level != "low" and await intervene(engine, settings, assessment):
            interventions += 1
    for level in LEVELS:
        metrics.ASSESSMENTS.labels(level).inc(levels[level])
        metrics.LEVEL_SHARE.labels(level).set(levels[level] / len(stored) if stored else 0)
    low = sum(a.low_coverage for a in stored)
    metrics.LOW_COVERAGE.inc(low)
    return {
        "day": day.isoformat(),
        "model_version": model.version,
        "assessed": len(stored),
        "levels": {level: levels[level] for level in LEVELS},
        "low_coverage": low,
        "interventions": interventions,
    }
