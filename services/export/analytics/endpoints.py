"""`POST /v1/analytics/sql`: an admin's read-only query over the lake (see sql.py)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from libs.common import duckdb_sql
from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.db import get_engine
from libs.common.errors import ServiceError
from libs.common.lake import Lake, get_lake
from services.export.analytics import sql
from services.export.config import ExportSettings, get_export_settings

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
AdminPrincipal = Annotated[Principal, require_scope(Scope.ADMIN)]
LakeDep = Annotated[Lake, Depends(get_lake)]
SettingsDep = Annotated[ExportSettings, Depends(get_export_settings)]


class SqlIn(BaseModel):
    sql: Annotated[str, Field(min_length=1, max_length=20_000)]


class SqlColumn(BaseModel):
    name: str
    type: str


class SqlOut(BaseModel):
    columns: list[SqlColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool  # more rows matched than the row limit
    row_limit: int
    elapsed_ms: float


class InvalidSql(ServiceError):
    title = "Invalid SQL"


class NotReadOnly(ServiceError):
    title = "Not a read-only query"


class QueryFailed(ServiceError):
    title = "Query failed"


class QueryTimeout(ServiceError):
    status = 408
    title = "Query timeout"


@router.post("/sql", response_model=SqlOut)
async def run_sql(
    body: SqlIn, request: Request, principal: AdminPrincipal, lake: LakeDep, settings: SettingsDep
) -> SqlOut:
    """One SELECT (or WITH ... SELECT) over the views `raw_events`, `interactions` and
    `items`; at most `MINDLAKE_EXPORT_SQL_ROW_LIMIT` rows, `MINDLAKE_EXPORT_SQL_TIMEOUT_S`."""
    # The audit names the query by hash: its text may hold anything the admin typed.
    digest = hashlib.sha256(body.sql.encode()).hexdigest()[:16]

    async def record(outcome: str) -> None:
        asset = f"export.analytics_sql sha256:{digest} outcome:{outcome}"
        await audit(
            entry_from_request(
                request,
                principal,
                purpose=AuditPurpose.Analytics,
                action=AuditAction.Read,
                asset=asset,
                subject=None,
            )
        )

    try:
        duckdb_sql.check_read_only(body.sql)  # refuse before reading the lake
        views = await sql.load_views(lake, get_engine())
        result = await asyncio.to_thread(
            sql.run,
            body.sql,
            views,
            row_limit=settings.export_sql_row_limit,
            timeout_s=settings.export_sql_timeout_s,
            memory_limit=settings.export_sql_memory_limit,
        )
    except duckdb_sql.SqlRejected as exc:
        await record(f"rejected-{exc.kind}")
        error = InvalidSql if exc.kind == "syntax" else NotReadOnly
        raise error(exc.detail, errors=[{"field": "sql", "reason": exc.detail}]) from None
    except duckdb_sql.SqlTimeout as exc:
        await record("timeout")
        raise QueryTimeout(str(exc)) from None
    except duckdb_sql.SqlFailed as exc:
        await record("failed")
        raise QueryFailed(str(exc), errors=[{"field": "sql", "reason": str(exc)}]) from None
    await record("ok")
    return SqlOut(
        columns=[SqlColumn(**c) for c in result.columns],
        rows=result.rows,
        row_count=len(result.rows),
        truncated=result.truncated,
        row_limit=settings.export_sql_row_limit,
        elapsed_ms=result.elapsed_ms,
    )
