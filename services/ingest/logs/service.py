"""Accepting log entries: validate each, derive ids, write the batch to the outbox.

The rows are committed (group commit, services/ingest/outbox/writer.py) before `accept` returns,
so the caller's 2xx always means durable. Once they are, the reply reports them whatever
fails next: the rejected entries' dead letters (deadletter.try_record), metrics and quality
tallies are best effort from there on, logged and counted when they fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from pydantic import ValidationError

from libs.common.auth import Principal
from libs.common.errors import PayloadTooLarge, ServiceError, Unprocessable
from services.ingest.config import IngestSettings
from services.ingest.deadletters import service as deadletter
from services.ingest.logs import metrics
from services.ingest.logs.fields import EntryBase
from services.ingest.logs.schemas import ENTRY_ADAPTER, SERVICES, IngestReply, Rejection
from services.ingest.outbox import repository
from services.ingest.quality import service as quality

UNKNOWN_SERVICE = "unknown"
SHOWN_TAG_CHARS = 64  # of an unknown `service` value, in its rejection reason

log = structlog.get_logger(__name__)


@dataclass
class Checked:
    """The outcome of validating a request's entries, before anything is written."""

    rows: list[repository.OutboxInsert] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # request index of each row
    rejections: list[Rejection] = field(default_factory=list)
    in_request_duplicates: list[tuple[int, str]] = field(default_factory=list)
    fields: dict[str, list[int]] = field(default_factory=dict)  # service -> [declared, filled]
    kinds: dict[int, str] = field(default_factory=dict)  # request index -> rejection's error kind


def entries_of(body: Any, settings: IngestSettings) -> tuple[list[Any], bool]:
    """The entries of a request: one entry, or {"entries": [...]}; and whether it was a batch."""
    if isinstance(body, dict) and "entries" in body:
        entries = body["entries"]
        if not isinstance(entries, list):
            raise ServiceError(
                "'entries' must be a list", errors=[{"field": "entries", "reason": "not a list"}]
            )
        if len(entries) > settings.ingest_max_batch_entries:
            raise PayloadTooLarge(
                f"the batch has {len(entries):,} entries; the limit is "
                f"{settings.ingest_max_batch_entries:,} a batch"
            )
        return entries, True
    if isinstance(body, dict):
        return [body], False
    raise ServiceError(
        "send one entry (an object) or {'entries': [...]}",
        errors=[{"field": "body", "reason": "expected an object"}],
    )


def derived_event_id(raw: bytes) -> str:
    """Clients that send no event_id get a hash of the entry: a resend dedups."""
    return "h_" + hashlib.sha256(raw).hexdigest()[:40]


def _error_kind(exc: ValidationError) -> str:
    """A short code for metrics and the dead-letter store: pydantic's error type, or ours."""
    kind = exc.errors(include_url=False, include_input=False)[0]["type"]
    if kind == "union_tag_invalid":
        return deadletter.UNKNOWN_SERVICE
    if kind == "union_tag_not_found":
        return deadletter.MISSING_SERVICE
    return str(kind)


def dead_letters(
    entries: list[Any], checked: Checked, principal: Principal, source: str
) -> list[deadletter.DeadLetterIn]:
    """The request's rejected entries, to keep in the dead-letter store."""
    out = []
    for r in checked.rejections:
        item = entries[r.index] if r.index < len(entries) else None
        if checked.kinds.get(r.index) == deadletter.TOO_DEEP:
            payload: Any = deadletter.TOO_DEEP_NOTE
        elif isinstance(item, dict | str):
            payload = item
        else:  # a list, number, ...: kept as its JSON text
            payload = deadletter.payload_json(item)
        out.append(
            deadletter.DeadLetterIn(
                source=source,
                payload=payload,
                reason=r.reason,
                field=r.field,
                error_kind=checked.kinds.get(r.index, deadletter.INVALID),
                key_id=principal.key_id,
            )
        )
    return out


def _rejection(index: int, exc: ValidationError) -> Rejection:
    err = exc.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "union_tag_invalid":
        tag = str(err["ctx"]["tag"])
        if len(tag) > SHOWN_TAG_CHARS:
            tag = tag[:SHOWN_TAG_CHARS] + "…"
        # repr: a NUL or other control character shows escaped, never raw
        return Rejection(
            index=index,
            field="service",
            reason=f"unknown service {tag!r}; known: {', '.join(SERVICES)}",
        )
    if err["type"] == "union_tag_not_found":
        return Rejection(index=index, field="service", reason="Field required")
    # loc starts with the union member's tag (e.g. 'mood-service'); drop it.
    parts = [str(p) for p in err["loc"]]
    if parts and parts[0] in SERVICES:
        loc = ".".join(parts[1:])
    extra = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return Rejection(index=index, field=loc or "entry", reason=err["msg"] + extra)


def check_entries(
    entries: list[Any], principal: Principal, settings: IngestSettings, *, batch: bool
) -> Checked:
    checked = Checked()
    seen: set[str] = set()
    for index, item in enumerate(entries):
        if not isinstance(item, dict):
            checked.rejections.append(Rejection(index=index, field="entry", reason="not an object"))
            checked.kinds[index] = deadletter.NOT_AN_OBJECT
            continue
        try:
            raw = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # past 254 levels of nesting
            checked.rejections.append(
                Rejection(index=index, field="entry", reason="the entry is nested too deeply")
            )
            checked.kinds[index] = deadletter.TOO_DEEP
            continue
        if len(raw) > settings.ingest_max_entry_bytes:
            message = (
                f"the entry is {len(raw):,} bytes; the limit is "
                f"{settings.ingest_max_entry_bytes:,} bytes an entry"
            )
            if not batch:
                raise PayloadTooLarge(message)
            checked.rejections.append(Rejection(index=index, field="entry", reason=message))
            checked.kinds[index] = deadletter.ENTRY_TOO_LARGE
            continue
        try:
            entry: EntryBase = ENTRY_ADAPTER.validate_python(item)
        except ValidationError as exc:
            checked.rejections.append(_rejection(index, exc))
            checked.kinds[index] = _error_kind(exc)
            continue
        service: str = entry.service  # type: ignore[attr-defined]
        if not principal.may_write_for(service):
            checked.rejections.append(
                Rejection(
                    index=index,
                    field="service",
                    reason=f"this API key may not write for {service!r}",
                )
            )
            checked.kinds[index] = deadletter.SERVICE_NOT_ALLOWED
            continue
        event_id = entry.event_id or derived_event_id(raw)
        if event_id in seen:
            checked.in_request_duplicates.append((index, event_id))
            continue
        seen.add(event_id)
        entry.event_id = event_id
        checked.indexes.append(index)
        checked.rows.append(
            repository.OutboxInsert(
                event_id=event_id,
                service=service,
                user_id=entry.user_id,
                event_type=entry.event_type,
                event_time=entry.timestamp,
                payload=orjson.dumps(entry.model_dump(mode="json", exclude_none=True)),
            )
        )
        declared = type(entry).model_fields
        tally = checked.fields.setdefault(service, [0, 0])
        tally[0] += len(declared)
        tally[1] += len(entry.model_fields_set & declared.keys())
    return checked


InsertRows = Callable[[Sequence[repository.OutboxInsert]], Awaitable[set[str]]]


async def accept(
    insert: InsertRows,
    entries: list[Any],
    principal: Principal,
    settings: IngestSettings,
    *,
    batch: bool,
    source: str = "logs",
) -> IngestReply:
    """Validate, then write to the outbox through `insert`, which returns once the rows are
    committed. Raises when nothing could be accepted; after the commit, never."""
    checked = check_entries(entries, principal, settings, batch=batch)
    if not checked.rows and not checked.in_request_duplicates:
        _best_effort("metrics", metrics.count_rejections, entries, checked.rejections)
        _best_effort("quality", quality.observe_logs, entries, checked.rejections, {}, {}, {})
        kept = await deadletter.try_record(dead_letters(entries, checked, principal, source))
        raise Unprocessable(
            "no entry was accepted"
            if kept
            else "no entry was accepted, and the rejected entries could not be kept in the "
            "dead-letter store: fix them (see errors) before sending them again",
            errors=[r.model_dump() for r in checked.rejections],
        )
    new_ids = await insert(checked.rows)
    # Committed: from here on the reply reports what was, whatever fails.
    if checked.rejections:  # rare: the happy path does no dead-letter work
        await deadletter.try_record(dead_letters(entries, checked, principal, source))

    event_ids: list[str | None] = [None] * len(entries)
    accepted_by_service: dict[str, int] = {}
    duplicate_by_service: dict[str, int] = {}
    for index, row in zip(checked.indexes, checked.rows, strict=True):
        event_ids[index] = row.event_id
        bucket = accepted_by_service if row.event_id in new_ids else duplicate_by_service
        bucket[row.service] = bucket.get(row.service, 0) + 1
    for index, event_id in checked.in_request_duplicates:
        event_ids[index] = event_id
        service = str(entries[index].get("service"))
        duplicate_by_service[service] = duplicate_by_service.get(service, 0) + 1

    _best_effort("metrics", metrics.count_outcomes, accepted_by_service, duplicate_by_service)
    if checked.rejections:
        _best_effort("metrics", metrics.count_rejections, entries, checked.rejections)
    _best_effort(
        "quality",
        quality.observe_logs,
        entries,
        checked.rejections,
        accepted_by_service,
        duplicate_by_service,
        checked.fields,
    )
    return IngestReply.model_construct(  # every field is built here: no need to re-validate
        accepted=sum(accepted_by_service.values()),
        duplicate=sum(duplicate_by_service.values()),
        rejected=len(checked.rejections),
        errors=checked.rejections,
        event_ids=event_ids,
    )


def _best_effort(step: str, observe: Callable[..., None], *args: Any) -> None:
    """Tallies must not change a reply: a failure is logged (its type only) and skipped."""
    try:
        observe(*args)
    except Exception as exc:
        log.error("ingest_observe_failed", step=step, error_type=type(exc).__name__)
