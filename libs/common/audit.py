"""Audit emission: every access to personal data appends an entry, from any service.

`audit(*entries)` hands its entries to a group-commit writer and returns once they are
committed to `common.audit_outbox`: concurrent callers share one INSERT and one COMMIT, so
the cost per request is a share of one round trip, and an entry is never lost once
`audit()` has returned. The compliance worker moves outbox rows into its hash-chained log
(task `compliance.chain_audit`); the chain is built there, in one place, so emitters never
contend on the chain's head.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import BigInteger, DateTime, Identity, String, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request

from libs.common.db import CommonBase, get_engine


class AuditPurpose(StrEnum):
    """Why the data is accessed; decides what a reader of the log may see (redaction)."""

    UserView = "UserView"
    ProviderAccess = "ProviderAccess"
    Research = "Research"
    DataSync = "DataSync"
    Admin = "Admin"
    Analytics = "Analytics"
    MachineLearning = "MachineLearning"


class AuditAction(StrEnum):
    Read = "Read"
    Write = "Write"
    Delete = "Delete"
    SchemaChange = "SchemaChange"
    VersionRestore = "VersionRestore"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuditEntry:
    actor: str  # the API key id
    purpose: AuditPurpose
    action: AuditAction
    asset: str
    subject: str | None  # the user whose data it is
    client_ip: str | None = None
    device: str | None = None
    at: datetime = field(default_factory=_now)


class AuditOutboxRow(CommonBase):
    """Entries emitted but not yet chained by the compliance worker."""

    __tablename__ = "audit_outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    actor: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(200))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _row(entry: AuditEntry) -> dict[str, object]:
    return {
        "entry_id": uuid.uuid4(),
        "actor": entry.actor[:64],
        "purpose": AuditPurpose(entry.purpose).value,
        "action": AuditAction(entry.action).value,
        "asset": entry.asset[:500],
        "subject": None if entry.subject is None else entry.subject[:200],
        "client_ip": None if entry.client_ip is None else entry.client_ip[:64],
        "device": None if entry.device is None else entry.device[:500],
        "at": entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC),
    }


async def insert_outbox(conn: AsyncConnection, entries: Sequence[AuditEntry]) -> None:
    await conn.execute(insert(AuditOutboxRow), [_row(e) for e in entries])


_Pending = tuple[Sequence[AuditEntry], "asyncio.Future[None]"]


class AuditWriter:
    """Group commit: callers hand entries over and wait; a drain task writes everything
    pending in one transaction and wakes each caller after the COMMIT."""

    def __init__(self, max_in_flight: int = 2, max_rows: int = 5_000) -> None:
        self.max_in_flight = max_in_flight
        self.max_rows = max_rows
        self._pending: list[_Pending] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        self._loop: asyncio.AbstractEventLoop | None = None

    async def write(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new loop (tests, tasks): state of the old one is dead
            self._loop, self._pending, self._in_flight = loop, [], 0
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((entries, future))
        if self._in_flight < self.max_in_flight:
            self._in_flight += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await future

    def _take(self) -> list[_Pending]:
        group: list[_Pending] = []
        size = 0
        while self._pending and (not group or size + len(self._pending[0][0]) <= self.max_rows):
            item = self._pending.pop(0)
            group.append(item)
            size += len(item[0])
        return group

    async def _drain(self) -> None:
        try:
            while self._pending:
                group = self._take()
                rows = [entry for entries, _ in group for entry in entries]
                try:
                    async with get_engine().begin() as conn:
                        await insert_outbox(conn, rows)
                except BaseException as exc:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for _, future in group:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._in_flight -= 1


writer = AuditWriter()


async def audit(*entries: AuditEntry) -> None:
    """Record `entries`; returns once they are durable (committed to the audit outbox)."""
    for entry in entries:  # a bad purpose/action is the caller's bug: fail before writing
        AuditPurpose(entry.purpose)
        AuditAction(entry.action)
    await writer.write(entries)


class _HasKeyId(Protocol):
    @property
    def key_id(self) -> str: ...


def client_ip(request: Request) -> str | None:
    """The first X-Forwarded-For hop (set by the proxy in front), else the peer address."""
    forwarded = request.headers.get("x-forwarded-for", "")
    first = forwarded.split(",")[0].strip()
    if first:
        return first
    return request.client.host if request.client else None


def entry_from_request(
    request: Request,
    principal: _HasKeyId,
    *,
    purpose: AuditPurpose,
    action: AuditAction,
    asset: str,
    subject: str | None,
) -> AuditEntry:
    return AuditEntry(
        actor=principal.key_id,
        purpose=purpose,
        action=action,
        asset=asset,
        subject=subject,
        client_ip=client_ip(request),
        device=request.headers.get("user-agent") or None,
    )
