"""Who gets what: the rules of interventions, and the lock that makes them hold under
concurrency.

- low: nothing;
- medium and high: one message a day per user (the assessment's day), whatever the level;
- critical: a message even if one was sent that day, and an escalation (the alert);
- one of each kind and level per assessment: re-running a day (same assessment row) or a
  redelivered task never adds a second one, while a same-day rise to critical still brings
  the critical message (the one with the crisis resources).

Two workers may assess the same user at once. Each takes a transaction-scoped advisory lock on
the user's subject key, re-reads, then inserts: the second waits for the first's commit and
sees its row. (An INSERT ... WHERE NOT EXISTS alone would not do: under READ COMMITTED two
concurrent ones do not see each other's uncommitted row.)
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.risk.interventions.templates import MESSAGE_LEVELS
from services.risk.models import AssessmentRow, InterventionRow

LOCK_NAMESPACE = 0x52534B49  # "RSKI": keeps these advisory locks apart from other users'


def planned(level: str, *, messaged_today: bool, existing: set[tuple[str, str]]) -> list[str]:
    """The kinds to create for an assessment at `level`, given that day's messages and the
    (kind, level) pairs the assessment already has."""
    if level not in MESSAGE_LEVELS:
        return []
    kinds = []
    if ("message", level) not in existing and (level == "critical" or not messaged_today):
        kinds.append("message")
    if level == "critical" and ("escalation", level) not in existing:
        kinds.append("escalation")
    return kinds


async def lock_subject(conn: AsyncConnection, subject_key: str) -> None:
    """Held until the transaction ends."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"),
        {"ns": LOCK_NAMESPACE, "key": subject_key},
    )


async def messaged_on(conn: AsyncConnection, subject_key: str, day: date) -> bool:
    found = await conn.scalar(
        select(InterventionRow.id)
        .where(
            InterventionRow.subject_key == subject_key,
            InterventionRow.day == day,
            InterventionRow.kind == "message",
        )
        .limit(1)
    )
    return found is not None


async def kinds_for(conn: AsyncConnection, assessment_id: uuid.UUID) -> set[tuple[str, str]]:
    rows = await conn.execute(
        select(InterventionRow.kind, InterventionRow.level).where(
            InterventionRow.assessment_id == assessment_id
        )
    )
    return {(r.kind, r.level) for r in rows}


async def plan(conn: AsyncConnection, assessment: AssessmentRow) -> list[str]:
    """`planned` for this assessment, from the interventions table as `conn` sees it."""
    if assessment.level not in MESSAGE_LEVELS:
        return []
    return planned(
        assessment.level,
        messaged_today=await messaged_on(conn, assessment.subject_key, assessment.day),
        existing=await kinds_for(conn, assessment.id),
    )
