"""Every query on `embedding.persona_uploads`, and the per-user lock of the staged area."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.embedding.personas.models import UploadRow, UploadStatus

T = cast(Table, UploadRow.__table__)


async def lock_user(conn: AsyncConnection, subject_key: str) -> None:
    """Held until the transaction ends: builds, stage completions and withdrawals of one user
    never interleave (a withdrawal cannot be undone by a build that read before it)."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"personas:{subject_key}"},
    )


async def insert(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(T.insert().values(**values))


async def get(conn: AsyncConnection, upload_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(T).where(T.c.upload_id == upload_id))).mappings().first()
    return dict(row) if row else None


async def of_user(conn: AsyncConnection, subject_key: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(T).where(T.c.subject_key == subject_key).order_by(T.c.created_at, T.c.upload_id)
    )
    return [dict(r) for r in rows.mappings()]


async def claim(
    conn: AsyncConnection, upload_id: uuid.UUID, token: uuid.UUID, *, now: datetime, stale_s: float
) -> dict[str, Any] | None:
    """Take a queued upload for categorizing (or one whose claimer died: claimed longer ago
    than a task may run). None: another task has it, or it is done, failed or stopped."""
    stale = now - timedelta(seconds=stale_s)
    row = (
        (
            await conn.execute(
                update(T)
                .where(
                    T.c.upload_id == upload_id,
                    (T.c.status == UploadStatus.QUEUED)
                    | ((T.c.status == UploadStatus.CATEGORIZING) & (T.c.updated_at < stale)),
                )
                .values(status=UploadStatus.CATEGORIZING, claim=token, updated_at=now)
                .returning(T)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def finish(
    conn: AsyncConnection, upload_id: uuid.UUID, token: uuid.UUID, **values: Any
) -> bool:
    """Record the claimed task's outcome; False if the claim was lost (withdrawn meanwhile)."""
    result = await conn.execute(
        update(T)
        .where(
            T.c.upload_id == upload_id,
            T.c.claim == token,
            T.c.status == UploadStatus.CATEGORIZING,
        )
        .values(claim=None, **values)
    )
    return bool(getattr(result, "rowcount", 0))


async def set_status(
    conn: AsyncConnection, upload_id: uuid.UUID, *, from_: tuple[str, ...], **values: Any
) -> bool:
    result = await conn.execute(
        update(T).where(T.c.upload_id == upload_id, T.c.status.in_(from_)).values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_built(conn: AsyncConnection, upload_ids: list[uuid.UUID], now: datetime) -> None:
    await conn.execute(
        update(T)
        .where(T.c.upload_id.in_(upload_ids), T.c.status == UploadStatus.CATEGORIZED)
        .values(status=UploadStatus.DONE, stage=3, built_at=now, updated_at=now)
    )


async def stop_user(conn: AsyncConnection, subject_key: str, now: datetime) -> int:
    """Every upload stopped, its files gone: nothing of it is processed further."""
    result = await conn.execute(
        update(T)
        .where(T.c.subject_key == subject_key, T.c.status != UploadStatus.STOPPED)
        .values(
            status=UploadStatus.STOPPED,
            stage=0,
            claim=None,
            reason="personalization consent was withdrawn: the file and all made from it deleted",
            updated_at=now,
        )
    )
    return int(getattr(result, "rowcount", 0))


async def delete_user(conn: AsyncConnection, subject_key: str) -> int:
    result = await conn.execute(delete(T).where(T.c.subject_key == subject_key))
    return int(getattr(result, "rowcount", 0))


async def count_user(conn: AsyncConnection, subject_key: str) -> int:
    return int(
        await conn.scalar(select(func.count()).select_from(T).where(T.c.subject_key == subject_key))
        or 0
    )


async def unstopped(conn: AsyncConnection, subject_keys: list[str]) -> list[str]:
    """Those of the users with an upload not yet stopped (the withdrawal sweep's work:
    everyone else has nothing left to stop or delete)."""
    rows = await conn.scalars(
        select(T.c.subject_key)
        .distinct()
        .where(
            T.c.subject_key.in_(subject_keys),
            T.c.status != UploadStatus.STOPPED,
        )
    )
    return list(rows.all())
