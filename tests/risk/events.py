"""Helpers of the risk tests: events at chosen times (the embedding tests' `Events` lands
them, encrypted per user as the flush writes them) and risk settings over a test lake."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from libs.common.settings import CommonSettings
from services.risk.config import RiskSettings
from tests.embedding.lake_support import Events


def risk_settings(lake_settings: Any, **overrides: Any) -> RiskSettings:
    common = {k: getattr(lake_settings, k) for k in CommonSettings.model_fields}
    return RiskSettings(**{**common, **overrides})


def at(day: date, hours: float = 12.0) -> datetime:
    """`hours` after the day's 00:00 UTC (negative: before it)."""
    return datetime.combine(day, time(), UTC) + timedelta(hours=hours)


def add_at(events: Events, user: str, service: str, when: datetime, **body: Any) -> None:
    """Like `Events.add`, at a chosen time (the features count days)."""
    events.rows.append((user, service, when, body))
