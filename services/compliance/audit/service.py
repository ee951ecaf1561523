"""Chaining the audit outbox into the log, verifying the chain, reading it redacted."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.audit import AuditPurpose
from libs.common.settings import CommonSettings, get_settings
from libs.common.subjects import subject_key
from services.compliance.audit import repository
from services.compliance.audit.chain import GENESIS, Chained, entry_hash
from services.compliance.audit.redaction import ANONYMOUS, Visible, redact

ANONYMOUS_READERS = ANONYMOUS  # readers that see no user id


def _key_of(subject: str | None, settings: CommonSettings) -> str | None:
    return None if subject is None else subject_key(subject, settings)


async def chain_pending(
    engine: AsyncEngine, batch_rows: int, settings: CommonSettings | None = None
) -> int:
    """Move every outbox row into the chained log; the number moved.

    Each batch is one transaction under the chain lock: rows are appended to the chain and
    deleted from the outbox together, so each entry is chained exactly once even when beat
    runs this on several workers at once or a worker dies half-way.
    """
    settings = settings or get_settings()
    moved = 0
    while True:
        async with engine.begin() as conn:
            await repository.lock_chain(conn)
            pending = await repository.take_outbox(conn, batch_rows)
            if not pending:
                return moved
            head = await repository.chain_head(conn)
            last_id, prev = head if head is not None else (0, GENESIS)
            rows: list[dict[str, Any]] = []
            for source in pending:
                last_id += 1
                entry = Chained(
                    id=last_id,
                    entry_id=source.entry_id,
                    actor=source.actor,
                    purpose=source.purpose,
                    action=source.action,
                    asset=source.asset,
                    subject_key=_key_of(source.subject, settings),
                    client_ip=source.client_ip,
                    device=source.device,
                    at=source.at,
                    prev_hash=prev,
                )
                prev = entry_hash(entry)
                rows.append({**entry.__dict__, "subject": source.subject, "hash": prev})
            await repository.insert_log(conn, rows)
            await repository.delete_outbox(conn, [int(r.id) for r in pending])
            await repository.set_chain_head(conn, last_id, prev)
            moved += len(rows)


@dataclass(frozen=True)
class BrokenLink:
    id: int
    reason: str  # "hash" | "prev_hash" | "missing" | "head" | "subject"
    expected: str
    found: str


@dataclass
class VerifyReport:
    ok: bool = True
    checked: int = 0
    last_id: int = 0
    broken: BrokenLink | None = field(default=None)


def _chained(row: Row[Any], key: str | None) -> Chained:
    return Chained(
        id=row.id,
        entry_id=row.entry_id,
        actor=row.actor,
        purpose=row.purpose,
        action=row.action,
        asset=row.asset,
        subject_key=key,
        client_ip=row.client_ip,
        device=row.device,
        at=row.at,
        prev_hash=row.prev_hash,
    )


def _check(
    row: Row[Any], expected_id: int, prev: str, settings: CommonSettings
) -> BrokenLink | None:
    if row.id != expected_id:  # ids are gapless: a gap is a deleted row
        return BrokenLink(expected_id, "missing", f"id {expected_id}", f"id {row.id}")
    if row.prev_hash != prev:
        return BrokenLink(row.id, "prev_hash", prev, row.prev_hash)
    # A subject still present stands for its key: the hash is recomputed over the subject's
    # key, so an altered subject breaks it; erased (null) subjects use the stored key.
    key = row.subject_key if row.subject is None else _key_of(row.subject, settings)
    recomputed = entry_hash(_chained(row, key))
    if row.hash != recomputed:
        return BrokenLink(row.id, "hash", recomputed, row.hash)
    if row.subject_key != key:  # the key column altered under an intact subject
        return BrokenLink(row.id, "subject", str(key), str(row.subject_key))
    return None


async def verify_chain(engine: AsyncEngine, page_rows: int) -> VerifyReport:
    """Walk the chain page by page; stop at the first broken link."""
    settings = get_settings()
    report = VerifyReport()
    prev = GENESIS
    async with engine.connect() as conn:
        # One snapshot for the head and every page: appends while we walk are not seen.
        await conn.execution_options(isolation_level="REPEATABLE READ")
        head = await repository.chain_head(conn)
        while True:
            page = await repository.log_page(conn, report.last_id, page_rows)
            for row in page:
                broken = _check(row, report.last_id + 1, prev, settings)
                if broken is not None:
                    report.ok, report.broken = False, broken
                    return report
                prev = row.hash
                report.last_id = row.id
                report.checked += 1
            if len(page) < page_rows:
                break
    # The head is written with every append: a chain that ends early lost its tail.
    head_id, head_hash = head if head is not None else (0, GENESIS)
    if (report.last_id, prev) != (head_id, head_hash):
        report.ok = False
        report.broken = BrokenLink(
            report.last_id + 1 if report.last_id < head_id else report.last_id,
            "head",
            f"{head_id}:{head_hash}",
            f"{report.last_id}:{prev}",
        )
    return report


@dataclass(frozen=True)
class EntryView:
    id: int
    actor: str
    purpose: str
    action: str
    asset: str
    subject: str | None
    client_ip: str | None
    device: str | None
    at: datetime
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Page:
    items: list[EntryView]
    next_cursor: str | None


async def read_log(
    engine: AsyncEngine,
    where: repository.LogFilter,
    reader: AuditPurpose,
    *,
    cursor: int | None,
    limit: int,
) -> Page:
    if where.subject is not None:  # erased entries keep only the key: find them by it
        where = replace(where, subject=None, subject_key=subject_key(where.subject, get_settings()))
    async with engine.connect() as conn:
        rows = await repository.query_log(conn, where, cursor, limit + 1)
    more = len(rows) > limit
    items = []
    for row in rows[:limit]:
        shown = redact(Visible(row.subject, row.client_ip, row.device), reader)
        items.append(
            EntryView(
                id=row.id,
                actor=row.actor,
                purpose=row.purpose,
                action=row.action,
                asset=row.asset,
                subject=shown.subject,
                client_ip=shown.client_ip,
                device=shown.device,
                at=row.at,
                prev_hash=row.prev_hash,
                hash=row.hash,
            )
        )
    return Page(items, str(items[-1].id) if more and items else None)
