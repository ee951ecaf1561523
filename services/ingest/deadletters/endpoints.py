"""Admin routes of the dead-letter store: list, inspect, replay, discard.

Every value reaches Postgres within what it can hold: a path id that cannot be a row's (past
bigint, or below 1) is a 404; an out-of-range body or query value, a cursor that is not one
we issued, a NUL in a filter, a 422 naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from pydantic import AfterValidator, BaseModel, Field, model_validator

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Principal, Scope, require_scope
from libs.common.db import UnitOfWorkDep, get_engine
from libs.common.errors import Conflict, NotFound
from libs.common.validation import PG_BIGINT_MAX, PgBigInt, PgText
from services.ingest.config import get_ingest_settings
from services.ingest.deadletters import metrics
from services.ingest.deadletters import repository as queries
from services.ingest.deadletters.models import DeadLetter
from services.ingest.deadletters.replay import ReplayReport, replay

router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])
AdminPrincipal = Annotated[Principal, require_scope(Scope.ADMIN)]
Status = Literal["open", "replayed", "discarded"]
# Filters as long as the columns they match (services/ingest/deadletters/models.DeadLetter).
SourceFilter = Annotated[PgText, Field(max_length=32)]
ReasonFilter = Annotated[
    PgText, Field(max_length=1000, description="An error kind, or a part of the reason")
]
ServiceFilter = Annotated[PgText, Field(max_length=64)]


def _cursor_value(value: str) -> str:
    if not (value.isascii() and value.isdigit()) or int(value) > PG_BIGINT_MAX:
        raise ValueError("not a cursor: pass `next_cursor` of the previous page")
    return value


Cursor = Annotated[str, Field(max_length=19), AfterValidator(_cursor_value)]


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC (a time without an offset is taken as UTC); Postgres compares it."""
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+14:00: before year 1 in UTC
        raise ValueError("the time is out of range once in UTC") from None


Time = Annotated[datetime, AfterValidator(_in_utc)]


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
    source: SourceFilter | None = None
    reason: ReasonFilter | None = None
    service: ServiceFilter | None = None
    since: Time | None = None
    until: Time | None = None


class ReplayRequest(BaseModel):
    ids: list[PgBigInt] | None = Field(None, min_length=1, max_length=1000)
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


def _out(row: DeadLetter) -> DeadLetterOut:
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
    return None if value is None else int(value)  # checked by `Cursor`


def _existing(dead_letter_id: int) -> int:
    """A path id no row can have (ids are positive bigints) is simply not found."""
    if not 0 < dead_letter_id <= PG_BIGINT_MAX:
        raise NotFound(f"no dead letter {dead_letter_id}")
    return dead_letter_id


async def _refresh_open_gauge() -> None:
    async with get_engine().connect() as conn:
        metrics.DEAD_LETTERS_OPEN.set(await queries.open_count(conn))


class ListQuery(BaseModel):
    source: SourceFilter | None = None
    reason: ReasonFilter | None = None
    service: ServiceFilter | None = None
    since: Time | None = None
    until: Time | None = None
    status: Status | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: Cursor | None = Field(None, description="`next_cursor` of the previous page")


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
        row = await queries.get(conn, _existing(dead_letter_id))
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
async def discard_dead_letter(
    _: AdminPrincipal, dead_letter_id: int, uow: UnitOfWorkDep
) -> DeadLetterOut:
    status = await queries.discard(uow.conn, _existing(dead_letter_id))
    row = await queries.get(uow.conn, dead_letter_id)
    if status is None or row is None:
        raise NotFound(f"no dead letter {dead_letter_id}")
    if status == "replayed":
        raise Conflict(f"dead letter {dead_letter_id} was replayed; it cannot be discarded")
    uow.after_commit(_refresh_open_gauge)  # counts what is committed
    return _out(row)
