"""Every query of erasure and portability requests (`common.subject_requests` and its steps)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import SubjectStore

SUBJECT_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext('mindlake-subject-request'), hashtext(:s))"
)
REQUESTED_BY = text("SELECT requested_by FROM common.subject_requests WHERE id = :id")
VERIFY_LOCK = text("SELECT pg_try_advisory_lock(hashtext('mindlake-subject-verify'), hashtext(:r))")
VERIFY_UNLOCK = text("SELECT pg_advisory_unlock(hashtext('mindlake-subject-verify'), hashtext(:r))")


async def lock_subject(conn: AsyncConnection, subject: str) -> None:
    await conn.execute(SUBJECT_LOCK, {"s": subject})


async def open_request_id(
    conn: AsyncConnection, subject: str, kind: str, open_statuses: tuple[str, ...]
) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.scalar(
        text(
            "SELECT id FROM common.subject_requests WHERE subject_key = :s AND kind = :k"
            " AND status = ANY(:open) ORDER BY created_at DESC LIMIT 1"
        ),
        {"s": subject, "k": kind, "open": list(open_statuses)},
    )
    return found


async def insert_request(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(
        text(
            """
            INSERT INTO common.subject_requests
                (id, kind, subject_key, status, sealed_user, wrapped_key, requested_by,
                 created_at, deadline, verify_attempts, next_check_at)
            VALUES (:id, :kind, :s, :status, :sealed, :wrapped, :actor, :now, :deadline, 0,
                    :check)
            """
        ),
        values,
    )


async def add_steps(
    conn: AsyncConnection, request_id: uuid.UUID, phase: str, resend_s: float
) -> None:
    """Every registered store gets a step; it is sent now, and again by the sweep if it has
    not finished when `next_attempt_at` comes."""
    stores = [s.value for s in SubjectStore]
    await conn.execute(
        text(
            """
            INSERT INTO common.subject_request_steps
                (request_id, store, phase, status, attempts, next_attempt_at, updated_at)
            SELECT :r, s, :p, 'pending', 0, now() + make_interval(secs => :resend), now()
            FROM unnest(CAST(:stores AS text[])) AS s
            ON CONFLICT DO NOTHING
            """
        ),
        {"r": request_id, "p": phase, "stores": stores, "resend": resend_s},
    )


async def status_for_update(conn: AsyncConnection, request_id: uuid.UUID) -> str | None:
    status: str | None = await conn.scalar(
        text("SELECT status FROM common.subject_requests WHERE id = :id FOR UPDATE"),
        {"id": request_id},
    )
    return status


async def phase_done(conn: AsyncConnection, request_id: uuid.UUID, phase: str) -> bool:
    left: int = await conn.scalar(
        text(
            "SELECT count(*) FROM common.subject_request_steps"
            " WHERE request_id = :r AND phase = :p AND status <> 'done'"
        ),
        {"r": request_id, "p": phase},
    )
    return left == 0


async def set_status(
    conn: AsyncConnection, request_id: uuid.UUID, status: str, **values: Any
) -> None:
    sets = "".join(f", {k} = :{k}" for k in values)
    await conn.execute(
        text(f"UPDATE common.subject_requests SET status = :status{sets} WHERE id = :id"),  # noqa: S608 - column names are ours
        {"status": status, "id": request_id, **values},
    )


# The same user's open exports: they could only collect what is being erased, with a data key
# that is gone. Their keys go too, so a step of theirs still queued finds them gone; their
# lake objects are deleted by the erase phase (compliance.archives).
_CANCEL_EXPORTS = text(
    "UPDATE common.subject_requests SET status = 'cancelled', completed_at = :now,"
    " last_error = :e, sealed_user = NULL, wrapped_key = NULL"
    " WHERE kind = 'export' AND subject_key = :s AND status = ANY(:open)"
)


async def cancel_exports(
    conn: AsyncConnection, subject: str, open_statuses: tuple[str, ...], now: datetime, error: str
) -> None:
    await conn.execute(
        _CANCEL_EXPORTS, {"s": subject, "open": list(open_statuses), "now": now, "e": error}
    )


async def back_to_erasing(
    conn: AsyncConnection, request_id: uuid.UUID, *, erasing: str, verifying: str, error: str
) -> int | None:
    """A verification that found traces: back to erasing; its attempts so far, or None if it
    was no longer verifying."""
    attempts: int | None = await conn.scalar(
        text(
            "UPDATE common.subject_requests SET status = :s, last_error = :e,"
            " verify_attempts = verify_attempts + 1 WHERE id = :id"
            " AND status = :verifying RETURNING verify_attempts"
        ),
        {"s": erasing, "e": error, "id": request_id, "verifying": verifying},
    )
    return attempts


async def retry_erase_steps(
    conn: AsyncConnection, request_id: uuid.UUID, backoff_s: float, check_after_s: float
) -> None:
    await conn.execute(
        text(
            "UPDATE common.subject_request_steps SET status = 'pending', error = NULL,"
            " next_attempt_at = now() + make_interval(secs => :b), updated_at = now()"
            " WHERE request_id = :r AND phase = 'erase'"
        ),
        {"r": request_id, "b": backoff_s},
    )
    await conn.execute(
        text(
            "UPDATE common.subject_requests"
            " SET next_check_at = now() + make_interval(secs => :b) WHERE id = :id"
        ),
        {"id": request_id, "b": check_after_s},
    )


async def request_for_update(conn: AsyncConnection, request_id: uuid.UUID) -> Row[Any]:
    return (
        await conn.execute(
            text("SELECT * FROM common.subject_requests WHERE id = :id FOR UPDATE"),
            {"id": request_id},
        )
    ).one()


async def steps(conn: AsyncConnection, request_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT store, phase, status, attempts, error, counts, next_attempt_at, updated_at"
            " FROM common.subject_request_steps WHERE request_id = :r ORDER BY phase, store"
        ),
        {"r": request_id},
    )
    return [dict(r._mapping) for r in rows]


async def summary(conn: AsyncConnection, request_id: uuid.UUID) -> Row[Any] | None:
    return (
        await conn.execute(
            text(
                "SELECT id, kind, subject_key, status, requested_by, created_at, deadline,"
                " key_destroyed_at, completed_at, verify_attempts, last_error, expires_at,"
                " receipt IS NOT NULL AS has_receipt FROM common.subject_requests"
                " WHERE id = :id"
            ),
            {"id": request_id},
        )
    ).one_or_none()


async def status_and_receipt(conn: AsyncConnection, request_id: uuid.UUID) -> Row[Any] | None:
    return (
        await conn.execute(
            text("SELECT status, receipt FROM common.subject_requests WHERE id = :id"),
            {"id": request_id},
        )
    ).one_or_none()


# --- the sweep -------------------------------------------------------------------------------
_DUE_STEPS = text(
    """
    UPDATE common.subject_request_steps st
    SET next_attempt_at = now() + make_interval(secs => :resend), updated_at = now()
    FROM common.subject_requests r
    WHERE r.id = st.request_id AND r.status = ANY(:open)
      AND st.status <> 'done' AND st.next_attempt_at <= now()
      AND st.phase = CASE WHEN r.status = 'collecting' THEN 'collect' ELSE 'erase' END
    RETURNING st.request_id, st.store, st.phase
    """
)
# Collecting or erasing, every step of the phase done, and no advance moved it on by its
# check time: its advance was lost (a worker died after the step) or failed.
_UNMOVED = text(
    """
    UPDATE common.subject_requests r
    SET next_check_at = now() + make_interval(secs => :resend)
    WHERE r.status IN ('collecting', 'erasing')
      AND (r.next_check_at IS NULL OR r.next_check_at <= now())
      AND NOT EXISTS (
          SELECT 1 FROM common.subject_request_steps st
          WHERE st.request_id = r.id AND st.status <> 'done'
            AND st.phase = CASE WHEN r.status = 'collecting' THEN 'collect' ELSE 'erase' END)
    RETURNING r.id
    """
)


async def claim_due_steps(
    conn: AsyncConnection, resend_s: float, open_statuses: tuple[str, ...]
) -> list[tuple[uuid.UUID, str, str]]:
    """Steps due (failed after their backoff, or sent and never finished), pushed on."""
    rows = await conn.execute(_DUE_STEPS, {"resend": resend_s, "open": list(open_statuses)})
    return [(r[0], r[1], r[2]) for r in rows]


async def claim_unmoved(conn: AsyncConnection, resend_s: float) -> list[uuid.UUID]:
    return [r for (r,) in await conn.execute(_UNMOVED, {"resend": resend_s})]


async def claim_stalled_verifications(conn: AsyncConnection, resend_s: float) -> list[uuid.UUID]:
    rows = await conn.execute(
        text(
            "UPDATE common.subject_requests SET next_check_at = now()"
            " + make_interval(secs => :resend) WHERE status = 'verifying'"
            " AND next_check_at <= now() RETURNING id"
        ),
        {"resend": resend_s},
    )
    return [r for (r,) in rows]


async def expire_exports(conn: AsyncConnection) -> list[uuid.UUID]:
    rows = await conn.execute(
        text(
            "UPDATE common.subject_requests SET status = 'expired', wrapped_key = NULL,"
            " sealed_user = NULL WHERE kind = 'export' AND status = 'done'"
            " AND expires_at <= now() RETURNING id"
        )
    )
    return [r for (r,) in rows.all()]


async def open_counts(conn: AsyncConnection, open_statuses: tuple[str, ...]) -> list[Row[Any]]:
    return list(
        (
            await conn.execute(
                text(
                    "SELECT kind, count(*) FILTER (WHERE status = ANY(:open)) AS open,"
                    " count(*) FILTER (WHERE status = ANY(:open) AND deadline < now()) AS overdue"
                    " FROM common.subject_requests GROUP BY kind"
                ),
                {"open": list(open_statuses)},
            )
        ).all()
    )


async def failed_steps(conn: AsyncConnection) -> int:
    failed: int | None = await conn.scalar(
        text("SELECT count(*) FROM common.subject_request_steps WHERE status = 'failed'")
    )
    return failed or 0
