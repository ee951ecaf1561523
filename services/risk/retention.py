"""Assessments are kept `risk_assessment_retention_days` (90 by default), then deleted."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from services.risk.config import RiskSettings
from services.risk.models import AssessmentRow


async def purge_assessments(engine: AsyncEngine, settings: RiskSettings, today: date) -> int:
    """Delete assessments of days before the retention window; how many went."""
    cutoff = today - timedelta(days=settings.risk_assessment_retention_days)
    async with engine.begin() as conn:
        result = await conn.execute(delete(AssessmentRow).where(AssessmentRow.day < cutoff))
    return int(result.rowcount or 0)
