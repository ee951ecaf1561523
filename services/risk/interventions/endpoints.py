"""Admin API of interventions: record a user's response to a message, list a user's
interventions (a clinician's view: it carries the disclaimer). Both audit-logged."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.db import get_engine
from libs.common.errors import Conflict, NotFound
from services.risk.config import DISCLAIMER
from services.risk.models import InterventionRow

router = APIRouter(tags=["risk interventions"])
Admin = Annotated[Principal, require_scope(Scope.ADMIN)]
UserId = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[^\x00]+$")
]  # no NUL: Postgres refuses it
UserResponse = Literal["accepted", "dismissed", "helpful", "not_helpful", "contacted_support"]
ASSET = "risk.interventions"


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    response: UserResponse


class InterventionOut(BaseModel):
    id: uuid.UUID
    user_id: str
    assessment_id: uuid.UUID | None
    created_at: datetime
    day: date
    level: str
    kind: str
    source: str
    message: str
    delivery_status: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    user_response: str | None
    responded_at: datetime | None


class InterventionList(BaseModel):
    disclaimer: str = DISCLAIMER
    items: list[InterventionOut]


async def _audit(
    request: Request, principal: Principal, action: AuditAction, asset: str, subject: str
) -> None:
    await audit(
        entry_from_request(
            request, principal, purpose=AuditPurpose.ProviderAccess, action=action,
            asset=asset, subject=subject,
        )
    )  # fmt: skip


@router.post("/v1/interventions/{intervention_id}/response", response_model=InterventionOut)
async def record_response(
    request: Request, principal: Admin, intervention_id: uuid.UUID, body: ResponseIn
) -> InterventionOut:
    """The user's response to a message (the latest one counts)."""
    async with get_engine().begin() as conn:
        row = (
            await conn.execute(
                select(InterventionRow.kind, InterventionRow.user_id)
                .where(InterventionRow.id == intervention_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            raise NotFound("no such intervention")
        if row.kind != "message":
            raise Conflict("responses are recorded on messages only, not on escalations")
        updated = await conn.execute(
            update(InterventionRow)
            .where(InterventionRow.id == intervention_id)
            .values(user_response=body.response, responded_at=datetime.now(UTC))
            .returning(*InterventionRow.__table__.columns)
        )
        out = InterventionOut.model_validate(dict(updated.one()._mapping))
    await _audit(request, principal, AuditAction.Write, f"{ASSET}/{intervention_id}", row.user_id)
    return out


@router.get("/v1/users/{user_id}/interventions", response_model=InterventionList)
async def list_interventions(
    request: Request,
    principal: Admin,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InterventionList:
    """The user's messages and escalations, newest first."""
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            select(*InterventionRow.__table__.columns)
            .where(InterventionRow.user_id == user_id)
            .order_by(InterventionRow.created_at.desc(), InterventionRow.id)
            .limit(limit)
        )
        items = [InterventionOut.model_validate(dict(r._mapping)) for r in rows]
    await _audit(request, principal, AuditAction.Read, ASSET, user_id)
    return InterventionList(items=items)
