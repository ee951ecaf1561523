"""The monitoring run: per feature, PSI between a reference window (the 28 days before the
latest 7) and the latest 7 days of the features table; the same for the assessment scores
(the latest day against the 28 before it). A window with fewer than `risk_drift_min_samples`
rows is not judged (gauge -1), so small cohorts do not raise alarms on noise. A PSI above
`risk_drift_psi_alert` is an alert: a gauge, a counter and a webhook post (names and values
only, never a user)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.lake import Lake
from libs.common.metrics import Counter, Gauge
from services.risk.config import DISCLAIMER, RiskSettings
from services.risk.features.build import read_features
from services.risk.features.columns import FEATURES
from services.risk.models import AssessmentRow
from services.risk.monitoring.psi import psi

log = structlog.get_logger(__name__)

FEATURE_PSI = Gauge(
    "mindlake_risk_feature_psi",
    "PSI of each feature, latest 7 days against the 28 before (-1: too few rows)",
    ["feature"],
)
SCORE_PSI = Gauge(
    "mindlake_risk_score_psi", "PSI of the scores, latest day against the 28 before (-1: too few)"
)
DRIFT_ALERTS = Counter("mindlake_risk_drift_alerts_total", "Drift alerts raised", ["kind"])
CURRENT_DAYS, REFERENCE_DAYS = 7, 28


def judged(reference: np.ndarray, current: np.ndarray, minimum: int) -> float | None:
    if reference.size < minimum or current.size < minimum:
        return None
    return psi(reference, current)


async def _scores(engine: AsyncEngine, start: date, end: date) -> np.ndarray:
    async with engine.connect() as conn:
        rows = await conn.scalars(
            select(AssessmentRow.score).where(AssessmentRow.day >= start, AssessmentRow.day < end)
        )
        return np.asarray(list(rows), dtype=np.float64)


async def monitor(
    engine: AsyncEngine, lake: Lake, settings: RiskSettings, *, today: date | None = None
) -> dict[str, Any]:
    """PSI of every feature and of the scores; the alerts raised."""
    end = (today or datetime.now(UTC).date()) + timedelta(days=1)
    split = end - timedelta(days=CURRENT_DAYS)
    reference = read_features(lake, settings, split - timedelta(days=REFERENCE_DAYS), split)
    current = read_features(lake, settings, split, end)
    minimum = settings.risk_drift_min_samples
    features: dict[str, float | None] = {}
    for name in FEATURES:
        value = judged(
            reference.column(name).to_numpy(zero_copy_only=False).astype(np.float64),
            current.column(name).to_numpy(zero_copy_only=False).astype(np.float64),
            minimum,
        ) if reference.num_rows and current.num_rows else None  # fmt: skip
        features[name] = value
        FEATURE_PSI.labels(name).set(-1 if value is None else value)
    latest = end - timedelta(days=1)
    score = judged(
        await _scores(engine, latest - timedelta(days=REFERENCE_DAYS), latest),
        await _scores(engine, latest, end),
        minimum,
    )
    SCORE_PSI.set(-1 if score is None else score)
    alerts = [
        {"kind": "feature_drift", "feature": n, "psi": round(v, 4)}
        for n, v in features.items()
        if v is not None and v > settings.risk_drift_psi_alert
    ]
    if score is not None and score > settings.risk_drift_psi_alert:
        alerts.append({"kind": "score_shift", "psi": round(score, 4)})
    for alert in alerts:
        DRIFT_ALERTS.labels(alert["kind"]).inc()
    if alerts:
        await notify(settings, alerts)
    return {
        "reference_rows": reference.num_rows,
        "current_rows": current.num_rows,
        "feature_psi": features,
        "score_psi": score,
        "alerts": alerts,
    }


async def notify(settings: RiskSettings, alerts: list[dict[str, Any]]) -> bool:
    """Post the drift alerts to the alert webhook; False (logged) when it cannot be reached:
    the gauges still show the drift, and the next run posts again."""
    if not settings.risk_alert_webhook_url:
        return False
    body = {"type": "risk.drift", "alerts": alerts, "disclaimer": DISCLAIMER}
    try:
        async with httpx.AsyncClient(timeout=settings.risk_alert_timeout_s) as client:
            reply = await client.post(settings.risk_alert_webhook_url, json=body)
        reply.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("risk drift alert not delivered", error=type(exc).__name__)
        return False
    return True
