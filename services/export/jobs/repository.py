"""Every query of the export jobs (the lineage's are in lineage/repository.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.export.jobs.models import ExportRow


class Status:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


KIND_AI_TRAINING = "ai_training"
COLUMNS = ", ".join(c.name for c in ExportRow.__table__.columns)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


async def create(
    conn: AsyncConnection,
    *,
    spec: dict[str, Any],
    requested_by: str,
    schedule_key: str | None = None,
) -> uuid.UUID:
    """A queued job. With `schedule_key` there is one job per key: a second call (a redelivered
    or repeated beat message) gets the existing job's id."""
    # DO UPDATE rather than DO NOTHING so that RETURNING gives the existing row (after a
    # concurrent insert of the same key commits); NULL keys never conflict.
    export_id: uuid.UUID = await conn.scalar(
        text(
            "INSERT INTO export.exports (id, kind, status, spec, progress, paths, superseded,"
            " version, requested_by, created_at, schedule_key) VALUES (:id, :kind, 'queued',"
            " CAST(:spec AS jsonb), CAST(:progress AS jsonb), '{}', '[]', 1, :by, :at, :key)"
            " ON CONFLICT (schedule_key) DO UPDATE SET schedule_key = EXCLUDED.schedule_key"
            " RETURNING id"
        ),
        {
            "id": uuid.uuid4(),
            "kind": KIND_AI_TRAINING,
            "spec": _json(spec),
            "progress": _json({"stage": "queued", "done": 0, "total": 0}),
            "by": requested_by,
            "at": datetime.now(UTC),
            "key": schedule_key,
        },
    )
    return export_id


async def get(conn: AsyncConnection, export_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            text(f"SELECT {COLUMNS} FROM export.exports WHERE id = :id"),  # noqa: S608 - ours
            {"id": export_id},
        )
    ).one_or_none()
    return dict(row._mapping) if row else None


async def page(
    conn: AsyncConnection, *, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[dict[str, Any]]:
    """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
    where = "WHERE (created_at, id) < (:at, :id)" if before else ""
    rows = await conn.execute(
        text(
            f"SELECT {COLUMNS} FROM export.exports {where}"  # noqa: S608 - ours
            " ORDER BY created_at DESC, id DESC LIMIT :limit"
        ),
        {"limit": limit, "at": before[0] if before else None, "id": before[1] if before else None},
    )
    return [dict(r._mapping) for r in rows]


async def start(
    conn: AsyncConnection, export_id: uuid.UUID
) -> tuple[dict[str, Any], datetime] | None:
    """Mark the job running (a redelivered job runs again): its spec and created_at; None if
    unknown or finished."""
    row = (
        await conn.execute(
            text(
                "UPDATE export.exports SET status = 'running', started_at = :at, error = NULL"
                " WHERE id = :id AND status <> 'done' RETURNING spec, created_at"
            ),
            {"id": export_id, "at": datetime.now(UTC)},
        )
    ).one_or_none()
    return (dict(row.spec), row.created_at) if row else None


async def set_progress(
    conn: AsyncConnection, export_id: uuid.UUID, stage: str, done: int, total: int
) -> None:
    await conn.execute(
        text("UPDATE export.exports SET progress = CAST(:p AS jsonb) WHERE id = :id"),
        {"id": export_id, "p": _json({"stage": stage, "done": done, "total": total})},
    )


async def finish(
    conn: AsyncConnection,
    export_id: uuid.UUID,
    *,
    paths: dict[str, str],
    counts: dict[str, Any],
    average_quality: float | None,
    manifest: dict[str, Any],
) -> None:
    await conn.execute(
        text(
            "UPDATE export.exports SET status = 'done', finished_at = :at, paths ="
            " CAST(:paths AS jsonb), counts = CAST(:counts AS jsonb), average_quality = :q,"
            " manifest = CAST(:manifest AS jsonb),"
            " progress = jsonb_set(progress, '{stage}', '\"done\"') WHERE id = :id"
        ),
        {
            "id": export_id,
            "at": datetime.now(UTC),
            "paths": _json(paths),
            "counts": _json(counts),
            "q": average_quality,
            "manifest": _json(manifest),
        },
    )


async def fail(conn: AsyncConnection, export_id: uuid.UUID, error: str) -> None:
    await conn.execute(
        text(
            "UPDATE export.exports SET status = 'failed', finished_at = :at, error = :e"
            " WHERE id = :id"
        ),
        {"id": export_id, "at": datetime.now(UTC), "e": error[:2000]},
    )
