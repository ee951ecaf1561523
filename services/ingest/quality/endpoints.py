"""GET /v1/quality: the current data-quality report."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from libs.common.auth import Principal, Scope, require_scope
from libs.common.db import UnitOfWorkDep
from services.ingest.quality import service as quality

router = APIRouter(tags=["quality"])


@router.get("/v1/quality", summary="Data-quality figures per source and data type")
async def quality_report(
    _: Annotated[Principal, require_scope(Scope.AUDIT_READ)],
    uow: UnitOfWorkDep,
    day: Annotated[date | None, Query(description="UTC day, YYYY-MM-DD; today by default")] = None,
) -> dict[str, Any]:
    await quality.recorder.write(uow.conn)  # this process's latest tallies count too
    figures = await quality.report(uow.conn, day)
    uow.after_commit(lambda: quality.export_gauges(figures))
    return {"sources": [asdict(f) for f in figures]}
