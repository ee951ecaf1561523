"""A score's level, from the thresholds in settings."""

from __future__ import annotations

from services.risk.config import RiskSettings


def level_of(score: float, settings: RiskSettings) -> str:
    if score >= settings.risk_threshold_critical:
        return "critical"
    if score >= settings.risk_threshold_high:
        return "high"
    if score >= settings.risk_threshold_medium:
        return "medium"
    return "low"
