"""Every query of the audit log (compliance schema) and of the audit outbox it drains."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Row, Table, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.audit import AuditOutboxRow
from services.compliance.audit.models import AuditChainHead, AuditLogRow

_CHAIN_LOCK = "compliance-chain-audit"
_HEAD_ID = 1
_LOG = cast(Table, AuditLogRow.__table__)
_OUTBOX = cast(Table, AuditOutboxRow.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)


async def lock_chain(conn: AsyncConnection) -> None:
    """One chainer at a time, until this transaction ends."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": _CHAIN_LOCK})


async def take_outbox(conn: AsyncConnection, limit: int) -> Sequence[Row[tuple[object, ...]]]:
    return (await conn.execute(select(_OUTBOX).order_by(_OUTBOX.c.id).limit(limit))).all()


async def delete_outbox(conn: AsyncConnection, ids: list[int]) -> None:
    await conn.execute(delete(_OUTBOX).where(_OUTBOX.c.id.in_(ids)))


async def outbox_depth(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(_OUTBOX)) or 0)


async def chain_head(conn: AsyncConnection) -> tuple[int, str] | None:
    row = (
        await conn.execute(select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == _HEAD_ID))
    ).first()
    return None if row is None else (int(row.last_id), str(row.last_hash))


async def set_chain_head(conn: AsyncConnection, last_id: int, last_hash: str) -> None:
    stmt = pg_insert(_HEAD).values(id=_HEAD_ID, last_id=last_id, last_hash=last_hash)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[_HEAD.c.id], set_={"last_id": last_id, "last_hash": last_hash}
        )
    )


async def insert_log(conn: AsyncConnection, rows: list[dict[str, object]]) -> None:
    await conn.execute(_LOG.insert(), rows)


async def log_page(
    conn: AsyncConnection, after_id: int, limit: int
) -> Sequence[Row[tuple[object, ...]]]:
    """Rows in chain order after `after_id`: keyset pages, so verifying scales."""
    stmt = select(_LOG).where(_LOG.c.id > after_id).order_by(_LOG.c.id).limit(limit)
    return (await conn.execute(stmt)).all()


@dataclass(frozen=True)
class LogFilter:
    subject: str | None = None  # the service turns it into `subject_key`
    subject_key: str | None = None
    actor: str | None = None
    purpose: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def query_log(
    conn: AsyncConnection, where: LogFilter, before_id: int | None, limit: int
) -> Sequence[Row[tuple[object, ...]]]:
    """Newest first, `limit` rows older than `before_id` (a keyset cursor)."""
    stmt = select(_LOG)  # `where.subject` is already turned into `subject_key` by the service
    if where.subject_key is not None:
        stmt = stmt.where(_LOG.c.subject_key == where.subject_key)
    if where.actor is not None:
        stmt = stmt.where(_LOG.c.actor == where.actor)
    if where.purpose is not None:
        stmt = stmt.where(_LOG.c.purpose == where.purpose)
    if where.action is not None:
        stmt = stmt.where(_LOG.c.action == where.action)
    if where.since is not None:
        stmt = stmt.where(_LOG.c.at >= where.since)
    if where.until is not None:
        stmt = stmt.where(_LOG.c.at < where.until)
    if before_id is not None:
        stmt = stmt.where(_LOG.c.id < before_id)
    return (await conn.execute(stmt.order_by(_LOG.c.id.desc()).limit(limit))).all()
