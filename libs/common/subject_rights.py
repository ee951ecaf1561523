"""Subject rights (erasure, portability): the request tables, and what a store's handler does.

A request (`common.subject_requests`) names the user only sealed: the user id is encrypted
with the request's own key, itself wrapped by the master key, so no Celery message, log line
or plain column ever carries it, and dropping the wrapped key when the request is done
leaves nothing readable. Each store's handler runs as a step (`common.subject_request_steps`)
in its own service's worker:

- `collect`: everything the store holds about the user (records, for the portability
  archive) and what identifies them (ids, emails, phones, sentences they wrote: the needles
  the erasure scan searches for). Written sealed to `subject-requests/<id>/parts/<store>`.
- `erase`: remove it; returns counts per kind of thing removed.

The compliance service creates requests, fans steps out and verifies (services/compliance).
"""

from __future__ import annotations

import asyncio
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
import structlog
from sqlalchemy import DateTime, Integer, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.contracts import SubjectRequestRef, TaskName
from libs.common.crypto import DataKeys, seal, unseal
from libs.common.db import CommonBase, one_shot_engine
from libs.common.lake import Lake
from libs.common.settings import CommonSettings

log = structlog.get_logger(__name__)

REQUESTS_PREFIX = "subject-requests"


class Phase:
    COLLECT = "collect"
    ERASE = "erase"


class StepStatus:
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SubjectRequestRow(CommonBase):
    __tablename__ = "subject_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # erasure | export
    subject_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    sealed_user: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped when done
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped when done
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    archive_path: Mapped[str | None] = mapped_column(String(300))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SubjectStepRow(CommonBase):
    __tablename__ = "subject_request_steps"

    request_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    store: Mapped[str] = mapped_column(String(64), primary_key=True)
    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- what a handler sees and returns ---------------------------------------------------------
@dataclass
class SubjectContext:
    request_id: uuid.UUID
    kind: str
    user_id: str
    subject_key: str
    data_key: bytes | None  # None once destroyed (the erase phase of an erasure)
    settings: CommonSettings
    lake: Lake
    engine: AsyncEngine


@dataclass
class Collected:
    """What one store holds about the user."""

    records: list[dict[str, Any]] = field(default_factory=list)  # JSON-able, for the archive
    identifiers: list[str] = field(default_factory=list)  # ids, emails, phones
    texts: list[str] = field(default_factory=list)  # free text the user wrote

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"records": self.records, "identifiers": self.identifiers, "texts": self.texts},
            default=str,
        )

    @classmethod
    def from_json(cls, data: bytes) -> Collected:
        raw = orjson.loads(data)
        return cls(records=raw["records"], identifiers=raw["identifiers"], texts=raw["texts"])


class StoreHandler(Protocol):
    # Postgres tables ("schema.table") this store is responsible for erasing from.
    tables: tuple[str, ...]

    async def collect(self, ctx: SubjectContext) -> Collected: ...

    async def erase(self, ctx: SubjectContext) -> dict[str, int]: ...


# --- the request folder ----------------------------------------------------------------------
def request_prefix(request_id: uuid.UUID) -> str:
    """The lake folder holding every object of one request (with its trailing slash)."""
    return f"{REQUESTS_PREFIX}/{request_id}/"


def part_path(request_id: uuid.UUID, name: str) -> str:
    return request_prefix(request_id) + name


def store_part(store: str) -> str:
    """The part name of what one store collected."""
    return f"parts/{store}"


def delete_request_files(lake: Lake, request_id: uuid.UUID) -> int:
    """Delete every object in the request's folder; how many."""
    deleted = 0
    for found in lake.list(request_prefix(request_id)):
        lake.delete(found.path)
        deleted += 1
    return deleted


def retry_backoff_s(settings: CommonSettings, attempts: int) -> float:
    """Seconds to wait before the next attempt: exponential, capped."""
    backoff: float = min(
        settings.subject_retry_base_s * 2 ** min(attempts, 10), settings.subject_retry_max_s
    )
    return backoff


# --- sealing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenRequest:
    """A request with its key unwrapped and its user id unsealed."""

    id: uuid.UUID
    kind: str
    subject_key: str
    user_id: str
    key: bytes
    status: str


async def open_request(
    conn: AsyncConnection, request_id: uuid.UUID, keys: DataKeys
) -> OpenRequest | None:
    row = (
        await conn.execute(
            text(
                "SELECT kind, subject_key, sealed_user, wrapped_key, status"
                " FROM common.subject_requests WHERE id = :id"
            ),
            {"id": request_id},
        )
    ).one_or_none()
    if row is None or row.wrapped_key is None or row.sealed_user is None:
        return None  # unknown, or done (its key is gone)
    key = keys.provider.unwrap(bytes(row.wrapped_key))
    user_id = unseal(key, bytes(row.sealed_user), b"user").decode()
    return OpenRequest(request_id, row.kind, row.subject_key, user_id, key, row.status)


def write_part(lake: Lake, request: OpenRequest, name: str, data: bytes) -> str:
    path = part_path(request.id, name)
    lake.write_bytes(path, seal(request.key, data, name.encode()))
    return path


def read_part(lake: Lake, request: OpenRequest, name: str) -> bytes:
    return unseal(request.key, lake.read_bytes(part_path(request.id, name)), name.encode())


def safe_error(exc: BaseException, user_id: str) -> str:
    """The reason a step failed, for the status reply: never the user id."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno}" if where else ""
    message = f"{type(exc).__name__}: {exc}"[:400].replace(user_id, "<subject>")
    return message + at


# --- running one step ------------------------------------------------------------------------
async def _set_step(
    conn: AsyncConnection, request_id: uuid.UUID, store: str, phase: str, **values: Any
) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    await conn.execute(
        text(
            f"UPDATE common.subject_request_steps SET {sets}, updated_at = now()"  # noqa: S608 - column names are ours
            " WHERE request_id = :r AND store = :s AND phase = :p"
        ),
        {**values, "r": request_id, "s": store, "p": phase},
    )


async def run_step(
    engine: AsyncEngine,
    lake: Lake,
    settings: CommonSettings,
    handlers: Mapping[str, StoreHandler],
    *,
    request_id: uuid.UUID,
    store: str,
    phase: str,
    keys: DataKeys | None = None,
) -> str:
    """Run one store's handler for one phase and record the outcome; returns the status.

    A failure is recorded with its reason and a time for the next attempt (exponential
    backoff); the compliance sweep sends it again then. Running a step twice is harmless:
    collect overwrites its part, erase finds nothing left the second time.
    """
    keys = keys or DataKeys(settings)
    async with engine.begin() as conn:
        request = await open_request(conn, request_id, keys)
        if request is None:
            return "gone"
        step = (
            await conn.execute(
                text(
                    "SELECT status, attempts FROM common.subject_request_steps"
                    " WHERE request_id = :r AND store = :s AND phase = :p FOR UPDATE"
                ),
                {"r": request_id, "s": store, "p": phase},
            )
        ).one_or_none()
        if step is None or step.status == StepStatus.DONE:
            return "skipped"
        await _set_step(
            conn, request_id, store, phase, status=StepStatus.RUNNING, attempts=step.attempts + 1
        )
        data_keys = await keys.for_subjects(conn, [request.subject_key])
    ctx = SubjectContext(
        request_id=request.id,
        kind=request.kind,
        user_id=request.user_id,
        subject_key=request.subject_key,
        data_key=data_keys.get(request.subject_key),
        settings=settings,
        lake=lake,
        engine=engine,
    )
    handler = handlers[store]
    try:
        if phase == Phase.COLLECT:
            collected = await handler.collect(ctx)
            write_part(lake, request, store_part(store), collected.to_json())
            counts = {"records": len(collected.records)}
        else:
            counts = await handler.erase(ctx)
    except Exception as exc:
        backoff = retry_backoff_s(settings, step.attempts)
        async with engine.begin() as conn:
            await _set_step(
                conn,
                request_id,
                store,
                phase,
                status=StepStatus.FAILED,
                error=safe_error(exc, request.user_id),
                next_attempt_at=datetime.now(UTC) + timedelta(seconds=backoff),
            )
        log.warning("subject_step_failed", store=store, phase=phase, request_id=str(request_id))
        return StepStatus.FAILED
    async with engine.begin() as conn:
        await _set_step(
            conn,
            request_id,
            store,
            phase,
            status=StepStatus.DONE,
            error=None,
            counts=orjson.dumps(counts).decode(),
        )
    return StepStatus.DONE


def run_step_task(
    handlers: Mapping[str, StoreHandler],
    settings: CommonSettings,
    *,
    request_id: str,
    store: str,
    phase: str,
) -> str:
    """The body of each service's `<service>.subject_step` task: run the step with that
    service's own settings (its handlers see them as `ctx.settings`), then tell compliance
    to look at the request again."""
    from celery import current_app

    async def go() -> str:
        engine = one_shot_engine(settings.database_url)
        try:
            return await run_step(
                engine,
                Lake(settings),
                settings,
                handlers,
                request_id=uuid.UUID(request_id),
                store=store,
                phase=phase,
            )
        finally:
            await engine.dispose()

    status = asyncio.run(go())
    current_app.send_task(
        TaskName.COMPLIANCE_SUBJECT_ADVANCE,
        kwargs=SubjectRequestRef(request_id=uuid.UUID(request_id)).model_dump(mode="json"),
        expires=settings.celery_task_expires_s,
    )
    return status
