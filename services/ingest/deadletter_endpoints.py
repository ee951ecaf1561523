"""Admin routes of the dead-letter store: list, inspect, replay, discard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from pydantic import BaseModel, Field, model_validator

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.db import get_engine
from libs.common.errors import NotFound, ServiceError
from services.ingest import deadletter_queries as queries
from services.ingest import metrics
from services.ingest.config import get_ingest_settings
from services.ingest.deadletter_replay import ReplayReport, replay

router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])
AdminPrincipal = Annotated[Principal, require_scope(Scope.ADMIN)]
Status = Literal["open", "replayed", "discarded"]


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class DeadLetterOut(BaseModel):
    id: int
    source: str
    service: str | None
    reason: str
    field: str | None
    error_kind: str
    payload: Any = Field(description="The entry, PII-scrubbed; null until it is scrubbed")
    payload_withheld: bool = Field(description="True while the payload awaits its PII scrub")
    received_at: datetime
    scrubbed_at: datetime | None
    status: str
    replayed_at: datetime | None
    replay_event_id: str | None
    key_id: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")


class ReplayFilter(BaseModel):
    source: str | None = None
    reason: str | None = Field(None, description="An error kind, or a part of the reason")
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class ReplayRequest(BaseModel):
    ids: list[int] | None = Field(None, min_length=1, max_length=1000)
    filter: ReplayFilter | None = Field(None, description="Replays open dead letters only")
    limit: int = Field(1000, ge=1, le=1000, description="With `filter`: at most this many")

    @model_validator(mode="after")
    def _one_selector(self) -> ReplayRequest:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give either `ids` or `filter`")
        return self


class ReplayResult(BaseModel):
    id: int
    outcome: str
    event_id: str | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class ReplayReply(BaseModel):
    replayed: int
    duplicate: int
    failed: int
    results: list[ReplayResult]


def _out(row: queries.DeadLetter) -> DeadLetterOut:
    scrubbed = row.scrubbed_at is not None
    return DeadLetterOut(
        id=row.id,
        source=row.source,
        service=row.service,
        reason=row.reason,
        field=row.field,
        error_kind=row.error_kind,
        payload=row.payload if scrubbed else None,
        payload_withheld=not scrubbed,
        received_at=row.received_at,
        scrubbed_at=row.scrubbed_at,
        status=row.status,
        replayed_at=row.replayed_at,
        replay_event_id=row.replay_event_id,
        key_id=row.key_id,
    )


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise ServiceError("bad cursor", errors=[{"field": "cursor", "reason": "not a cursor"}])
    return int(value)


async def _refresh_open_gauge() -> None:
    async with get_engine().connect() as conn:
        metrics.DEAD_LETTERS_OPEN.set(await queries.open_count(conn))


class ListQuery(BaseModel):
    source: str | None = None
    reason: str | None = Field(None, description="An error kind, or a part of the reason")
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: Status | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, description="`next_cursor` of the previous page")


async def _audit_shown(request: Request, principal: Principal, items: list[DeadLetterOut]) -> None:
    """Put every shown payload (a user's entry) on the audit record, in one write."""
    entries = []
    for item in items:
        if item.payload is None:
            continue
        subject = item.payload.get("user_id") if isinstance(item.payload, dict) else None
        entries.append(
            entry_from_request(
                request,
                principal,
                purpose=AuditPurpose.Admin,
                action=AuditAction.Read,
                asset=f"ingest.dead_letters/{item.id}",
                subject=subject if isinstance(subject, str) else None,
            )
        )
    await audit(*entries)


@router.get("", summary="Dead letters, newest first")
async def list_dead_letters(
    principal: AdminPrincipal, q: Annotated[ListQuery, Query()], request: Request
) -> DeadLetterPage:
    where = queries.Filter(q.source, q.reason, q.service, q.since, q.until, q.status)
    async with get_engine().connect() as conn:
        rows = await queries.list_page(conn, where, limit=q.limit + 1, before_id=_cursor(q.cursor))
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    items = [_out(r) for r in rows]
    await _audit_shown(request, principal, items)
    return DeadLetterPage(items=items, next_cursor=str(rows[-1].id) if more else None)


@router.get("/{dead_letter_id}", summary="One dead letter")
async def get_dead_letter(
    principal: AdminPrincipal, dead_letter_id: int, request: Request
) -> DeadLetterOut:
    async with get_engine().connect() as conn:
        row = await queries.get(conn, dead_letter_id)
    if row is None:
        raise NotFound(f"no dead letter {dead_letter_id}")
    out = _out(row)
    await _audit_shown(request, principal, [out])
    return out


@router.post(
    "/replay", summary="Re-validate dead letters with the current schema; land what passes"
)
async def replay_dead_letters(
    principal: AdminPrincipal, body: ReplayRequest, request: Request, background: BackgroundTasks
) -> ReplayReply:
    where = None
    if body.filter is not None:
        f = body.filter
        where = queries.Filter(f.source, f.reason, f.service, f.since, f.until, "open")
    report: ReplayReport = await replay(
        principal=principal,
        settings=get_ingest_settings(),
        ids=body.ids,
        where=where,
        limit=body.limit,
    )
    if report.replayed:
        flush_trigger = getattr(request.app.state, "flush_trigger", None)
        if flush_trigger is not None and flush_trigger.due():
            background.add_task(flush_trigger.send)
    await _refresh_open_gauge()
    return ReplayReply(
        replayed=report.replayed,
        duplicate=report.duplicate,
        failed=report.failed,
        results=[ReplayResult(**vars(o)) for o in report.results],
    )


@router.post("/{dead_letter_id}/discard", summary="Mark an open dead letter discarded")
async def discard_dead_letter(_: AdminPrincipal, dead_letter_id: int) -> DeadLetterOut:
    async with get_engine().begin() as conn:
        status = await queries.discard(conn, dead_letter_id)
        if status is None:
            raise NotFound(f"no dead letter {dead_letter_id}")
        if status == "replayed":
            raise Conflict(f"dead letter {dead_letter_id} was replayed; it cannot be discarded")
        row = await queries.get(conn, dead_letter_id)
    await _refresh_open_gauge()
    assert row is not None
    return _out(row)
