"""Assessments for clinicians (scope `risk:read`): a user's latest, their history, and the
day's high-risk list. Every read is audit-logged with its purpose; every reply carries the
disclaimer. A user who does not grant `risk_assessment` now is refused (403), whatever is
stored."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.consent import can_use
from libs.common.contracts import ConsentPurpose
from libs.common.db import get_engine
from libs.common.errors import Forbidden, NotFound
from libs.common.subjects import subject_key
from services.risk.config import DISCLAIMER, get_risk_settings
from services.risk.models import AssessmentRow

router = APIRouter(tags=["risk assessments"])
Reader = Annotated[Principal, require_scope(Scope.RISK_READ)]
UserId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]
Level = Literal["low", "medium", "high", "critical"]


class Contribution(BaseModel):
    feature: str
    value: float
    contribution: float


class AssessmentOut(BaseModel):
    id: uuid.UUID
    user_id: str
    day: date
    assessed_at: datetime
    score: float
    level: Level
    coverage: float
    low_coverage: bool
    model_version: str
    top_features: list[Contribution]


class RiskOut(BaseModel):
    disclaimer: str = DISCLAIMER
    assessment: AssessmentOut


class HistoryOut(BaseModel):
    disclaimer: str = DISCLAIMER
    assessments: list[AssessmentOut]


class HighRiskOut(BaseModel):
    disclaimer: str = DISCLAIMER
    day: date | None
    assessments: list[AssessmentOut]


async def _consented(user_id: str) -> None:
    if not await can_use(user_id, ConsentPurpose.RISK_ASSESSMENT):
        raise Forbidden(
            "the user has not granted risk_assessment",
            errors=[{"field": "user_id", "message": "no risk_assessment consent"}],
        )


async def _read_audit(request: Request, principal: Principal, *subjects: str | None) -> None:
    """One entry per user whose assessments were read (one without a user for an empty list)."""
    await audit(*[
        entry_from_request(
            request, principal, purpose=AuditPurpose.ProviderAccess, action=AuditAction.Read,
            asset="risk/assessments", subject=subject,
        )
        for subject in (subjects or (None,))
    ])  # fmt: skip


def _out(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


@router.get("/v1/users/{user_id}/risk", response_model=RiskOut)
async def latest(request: Request, principal: Reader, user_id: UserId) -> RiskOut:
    """The user's latest assessment."""
    await _consented(user_id)
    key = subject_key(user_id, get_risk_settings())
    async with get_engine().connect() as conn:
        row = (
            await conn.execute(
                select(AssessmentRow)
                .where(AssessmentRow.subject_key == key)
                .order_by(AssessmentRow.day.desc())
                .limit(1)
            )
        ).first()
    await _read_audit(request, principal, user_id)
    if row is None:
        raise NotFound("no assessment for this user")
    return RiskOut(assessment=AssessmentOut(**_out(row)))


@router.get("/v1/users/{user_id}/risk/history", response_model=HistoryOut)
async def history(
    request: Request,
    principal: Reader,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=366)] = 90,
) -> HistoryOut:
    """The user's assessments, newest first (at most the retention period's)."""
    await _consented(user_id)
    key = subject_key(user_id, get_risk_settings())
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            select(AssessmentRow)
            .where(AssessmentRow.subject_key == key)
            .order_by(AssessmentRow.day.desc())
            .limit(limit)
        )
        found = [AssessmentOut(**_out(r)) for r in rows]
    await _read_audit(request, principal, user_id)
    return HistoryOut(assessments=found)


@router.get("/v1/risk/high", response_model=HighRiskOut)
async def high_risk(
    request: Request,
    principal: Reader,
    day: date | None = None,
    level: Annotated[Literal["high", "critical"], Query()] = "high",
    limit: Annotated[int, Query(ge=1)] = 100,
) -> HighRiskOut:
    """Users assessed at `level` or above on `day` (default: the latest assessed day),
    highest score first."""
    settings = get_risk_settings()
    limit = min(limit, settings.risk_high_risk_page_max)
    levels = ["critical"] if level == "critical" else ["high", "critical"]
    async with get_engine().connect() as conn:
        if day is None:
            day = await conn.scalar(select(func.max(AssessmentRow.day)))
        rows = await conn.execute(
            select(AssessmentRow)
            .where(AssessmentRow.day == day, AssessmentRow.level.in_(levels))
            .order_by(AssessmentRow.score.desc())
            .limit(limit)
        )
        found = [AssessmentOut(**_out(r)) for r in rows]
    allowed = [a for a in found if await can_use(a.user_id, ConsentPurpose.RISK_ASSESSMENT)]
    await _read_audit(request, principal, *[a.user_id for a in allowed])
    return HighRiskOut(day=day, assessments=allowed)
