"""Audit emission: every access to personal data appends an entry, from any service.

`audit(*entries)` hands its entries to a group-commit writer and returns once they are
committed to `common.audit_outbox`: concurrent callers share one INSERT and one COMMIT, so
the cost per request is a share of one round trip, and an entry is never lost once
`audit()` has returned. The compliance worker moves outbox rows into its hash-chained log
(task `compliance.chain_audit`); the chain is built there, in one place, so emitters never
contend on the chain's head.
"""

from __future__ import annotations

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

from libs.common.db import CommonBase
from libs.common.group_commit import GroupCommitWriter


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


class AuditEntryColumns:
    """The columns of one audit entry, defined once: the outbox below and compliance's
    hash-chained log (services/compliance/audit/models.py) both take them from here."""

    entry_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    actor: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    asset: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(200))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditOutboxRow(AuditEntryColumns, CommonBase):
    """Entries emitted but not yet chained by the compliance worker."""

    __tablename__ = "audit_outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)


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


async def _insert_group(conn: AsyncConnection, callers: list[Sequence[AuditEntry]]) -> list[None]:
    await insert_outbox(conn, [entry for entries in callers for entry in entries])
    return [None] * len(callers)


class AuditWriter:
    """Group commit (libs/common/group_commit.py): callers hand entries over and wait; one
    transaction writes everything pending and wakes each caller after the COMMIT."""

    def __init__(self, max_in_flight: int = 2, max_rows: int = 5_000) -> None:
        self._writer = GroupCommitWriter(
            _insert_group, max_in_flight=max_in_flight, max_rows=max_rows
        )

    async def write(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            await self._writer.submit(entries)


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
