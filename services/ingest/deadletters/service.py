"""The dead-letter store's write side: every rejected entry, from any path, is kept.

Other ingest paths (POST /v1/logs, CSV upload, the Segment API, pulls) call `record` with one
`DeadLetterIn` per rejected entry, after validation and before replying. The payload is
stored as received (a NUL, which Postgres text cannot hold, shown as U+2400) and scrubbed of
PII shortly after by the `ingest.scrub_dead_letters` task (NER costs milliseconds a text and a
model in memory: not on the request path). Until then listings withhold it.

An erased user's late entries are refused here as at flush: a rejected entry whose user (any
id its payload names, as services/ingest/deadletters/models.DEAD_LETTER_USER reads it) has a consent
tombstone is counted and dropped, not stored. `try_record` is for callers that have already
committed something (accepted entries): a failure to store is logged and counted, not raised.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

import anyio
import orjson
import structlog
from pydantic_core.core_schema import ErrorType
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import Queue, TaskName
from libs.common.db import get_engine
from libs.common.settings import get_settings
from libs.common.subjects import subject_key
from libs.common.validation import without_nul
from services.ingest.deadletters import metrics
from services.ingest.deadletters import repository as queries
from services.ingest.logs.schemas import SERVICES
from services.ingest.outbox import repository

log = structlog.get_logger(__name__)

# Where a rejected entry came from: a closed set (it is a metric label).
SOURCES = ("logs", "segment", "csv", "pull")
OTHER = "other"

# Our own short reason codes; any other kind must be a pydantic error type (`missing`,
# `less_than_equal`, …). Anything else is stored as sent but counted as "other".
UNKNOWN_SERVICE = "unknown_service"
MISSING_SERVICE = "missing_service"
NOT_AN_OBJECT = "not_an_object"
ENTRY_TOO_LARGE = "entry_too_large"
TOO_DEEP = "too_deep"  # nested past what JSON encoding allows; kept as a note, not the entry
SERVICE_NOT_ALLOWED = "service_not_allowed"
PARSE_ERROR = "parse_error"  # e.g. a CSV row that does not split into the header's columns
INVALID = "invalid"
OWN_KINDS = frozenset(
    {
        UNKNOWN_SERVICE,
        MISSING_SERVICE,
        NOT_AN_OBJECT,
        ENTRY_TOO_LARGE,
        SERVICE_NOT_ALLOWED,
        PARSE_ERROR,
        INVALID,
    }
)
REASON_KINDS = OWN_KINDS | frozenset(get_args(ErrorType))
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class DeadLetterIn:
    """One rejected entry. `payload` is the entry as received: a JSON object, or the raw text
    (a CSV line) when it never became one. `reason` is our message, never the user's data."""

    source: str  # one of SOURCES
    payload: dict[str, Any] | str
    reason: str
    field: str | None = None
    error_kind: str = INVALID  # a pydantic error type or one of OWN_KINDS
    key_id: str | None = None  # the API key that sent it


def source_label(source: str) -> str:
    return source if source in SOURCES else OTHER


def kind_label(kind: str) -> str:
    return kind if kind in REASON_KINDS else OTHER


def known_service(payload: dict[str, Any] | str) -> str | None:
    """The entry's service, only when it is one we know (so never free text)."""
    if isinstance(payload, dict):
        service = payload.get("service")
        if isinstance(service, str) and service in SERVICES:
            return service
    return None


TOO_DEEP_NOTE = "<entry nested too deeply to store>"


def payload_json(payload: Any) -> str:
    """The payload as JSON text Postgres accepts: NUL shown as ␀, nesting within bounds."""
    try:
        # default=str: a caller's parsed values (Decimal, …) must not lose the dead letter
        data = orjson.dumps(without_nul(payload), default=str, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, RecursionError):  # past what JSON (or jsonb) nests
        return orjson.dumps(TOO_DEEP_NOTE).decode()
    return data.decode()


def to_row(item: DeadLetterIn) -> queries.DeadLetterInsert:
    kind = item.error_kind if _KIND_RE.match(item.error_kind or "") else INVALID
    return queries.DeadLetterInsert(
        source=without_nul(item.source[:32]),
        service=known_service(item.payload),
        reason=without_nul(item.reason[:1000]),
        field=without_nul((item.field or "")[:200]) or None,
        error_kind=kind,
        payload=payload_json(item.payload),
        key_id=item.key_id,
    )


def _id_text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # as `payload ->> 'user_id'` reads a number
    return None


def user_ids(payload: dict[str, Any] | str) -> list[str]:
    """Every user a payload names: its user_id, Segment's userId, `anon:<anonymousId>`.

    A raw text (a CSV line that did not parse) names none we could read."""
    if not isinstance(payload, dict):
        return []
    ids = [_id_text(payload.get("user_id")), _id_text(payload.get("userId"))]
    for name in ("anonymousId", "anonymous_id"):
        anonymous = _id_text(payload.get(name))
        ids.append(f"anon:{anonymous}" if anonymous else None)
    return [i for i in dict.fromkeys(ids) if i is not None]


async def _not_erased(conn: AsyncConnection, items: Sequence[DeadLetterIn]) -> list[DeadLetterIn]:
    """`items` without those about an erased user (one query, none when no item names one)."""
    settings = get_settings()
    subjects = [[subject_key(u, settings) for u in user_ids(i.payload)] for i in items]
    wanted = sorted({s for per_item in subjects for s in per_item})
    if not wanted:
        return list(items)
    gone = await repository.tombstoned(conn, wanted)
    if not gone:
        return list(items)
    kept = []
    for item, keys in zip(items, subjects, strict=True):
        if gone.isdisjoint(keys):
            kept.append(item)
        else:
            metrics.DEAD_LETTERS_REFUSED_ERASED.labels(source_label(item.source)).inc()
    return kept


async def record(rejections: Sequence[DeadLetterIn]) -> int:
    """Store rejected entries durably (one INSERT, committed on return) and ask for a scrub;
    returns how many were stored (those of erased users are not).

    Nothing to do (no query, no task) when `rejections` is empty.
    """
    if not rejections:
        return 0
    async with get_engine().begin() as conn:
        kept = await _not_erased(conn, rejections)
        await queries.insert_dead_letters(conn, [to_row(r) for r in kept])
    for item in kept:
        metrics.DEAD_LETTERS.labels(source_label(item.source), kind_label(item.error_kind)).inc()
    if kept:
        scrub_trigger.fire()
    return len(kept)


async def try_record(rejections: Sequence[DeadLetterIn]) -> bool:
    """`record`, for a caller that must reply whatever happens here (its accepted entries are
    committed): a failure is logged (its type only: a message can quote the data) and counted
    in mindlake_ingest_dead_letter_failures_total. False when the entries were not stored."""
    try:
        await record(rejections)
    except Exception as exc:
        log.error("dead_letters_not_stored", error_type=type(exc).__name__, entries=len(rejections))
        for item in rejections:
            metrics.DEAD_LETTER_FAILURES.labels(source_label(item.source)).inc()
        return False
    return True


class ScrubTrigger:
    """Send `ingest.scrub_dead_letters` after a recording, at most once per interval per
    process, off the request path (the Redis client blocks). Beat scrubs anyway."""

    def __init__(self, min_interval_s: float = 1.0, expires_s: int = 300) -> None:
        self.min_interval_s = min_interval_s
        self.expires_s = expires_s
        self.enabled = True
        self._last = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    def fire(self) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < self.min_interval_s:
            return
        self._last = now
        task = asyncio.get_running_loop().create_task(anyio.to_thread.run_sync(self._send))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self) -> None:
        from services.ingest.worker import celery_app  # the Celery app only where it is used

        try:
            celery_app.send_task(
                TaskName.INGEST_SCRUB_DEAD_LETTERS, queue=Queue.INGEST, expires=self.expires_s
            )
        except Exception as exc:  # the beat schedule scrubs anyway
            log.warning("scrub_trigger_failed", error_type=type(exc).__name__)


scrub_trigger = ScrubTrigger()
