"""Admin API of the compliance report (/v1/compliance/report)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.db import get_engine
from libs.common.errors import ServiceError
from libs.common.lake import Lake
from services.compliance.config import get_compliance_settings
from services.compliance.report import service as report

router = APIRouter(tags=["retention and reports"])
AuditReader = Annotated[Principal, require_scope(Scope.AUDIT_READ)]
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


async def _audit(request: Request, principal: Principal, action: AuditAction, asset: str) -> None:
    await audit(
        entry_from_request(
            request, principal, purpose=AuditPurpose.Admin, action=action, asset=asset, subject=None
        )
    )


@router.get("/v1/compliance/report")
async def get_report(
    request: Request,
    principal: AuditReader,
    day: Annotated[str | None, Query(description="YYYY-MM-DD (UTC); default: yesterday")] = None,
) -> dict[str, Any]:
    """The day's compliance report: stored by the daily job, else computed now."""
    today = datetime.now(UTC).date()
    when = _day(day) if day is not None else report.yesterday(today)
    if when > today:
        raise ServiceError(
            "no report for a future day", errors=[{"field": "day", "reason": "in the future"}]
        )
    settings = get_compliance_settings()
    body = await report.load_or_build(
        get_engine(), Lake(settings), settings.compliance_report_prefix, when
    )
    prefix = settings.compliance_report_prefix
    await _audit(request, principal, AuditAction.Read, report.report_path(prefix, when))
    return body


def _day(value: str) -> date:
    try:
        if not DAY.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ServiceError(
            "the day is malformed", errors=[{"field": "day", "reason": "use YYYY-MM-DD"}]
        ) from None
