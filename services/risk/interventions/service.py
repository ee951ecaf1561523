"""`intervene`: the message (and for critical, the escalation) an assessment calls for.

The plan is read once without the lock (so the LLM is not asked for a message that would be
thrown away), the message composed, then the plan re-read under the user's lock and only what
is still due inserted. The alert task is sent after the commit, so the worker finds the row;
if sending fails the row stays `pending` and `alerts.unsent_alerts` finds it for a resend.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog
from prometheus_client import Counter
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.contracts import Queue, TaskName
from services.risk.config import RiskSettings
from services.risk.interventions import llm, policy
from services.risk.interventions.templates import areas_of, escalation_summary
from services.risk.models import AssessmentRow, InterventionRow

log = structlog.get_logger(__name__)
CREATED = Counter(
    "mindlake_risk_interventions_total",
    "Interventions created, by kind, level and source",
    ["kind", "level", "source"],
)
ALERT_SEND_FAILURES = Counter(
    "mindlake_risk_alert_send_failures_total",
    "Escalations whose delivery task could not be queued (the row stays pending)",
)
SendAlert = Callable[[uuid.UUID], Awaitable[None]]


async def send_alert_task(intervention_id: uuid.UUID, settings: RiskSettings) -> None:
    """Queue TaskName.RISK_DELIVER_ALERT on the risk queue (by name: no import of the task)."""
    from services.risk.worker import celery_app

    await anyio.to_thread.run_sync(
        lambda: celery_app.send_task(
            TaskName.RISK_DELIVER_ALERT,
            kwargs={"intervention_id": str(intervention_id)},
            queue=Queue.RISK.value,
            expires=settings.celery_task_expires_s,
        )
    )


def _row(
    assessment: AssessmentRow, kind: str, message: str, source: str, id_: uuid.UUID
) -> dict[str, Any]:
    return {
        "id": id_,
        "subject_key": assessment.subject_key,
        "user_id": assessment.user_id,
        "assessment_id": assessment.id,
        "created_at": datetime.now(UTC),
        "day": assessment.day,
        "level": assessment.level,
        "kind": kind,
        "source": source,
        "message": message,
        "delivery_status": "pending",
        "attempts": 0,
        "last_error": None,
        "delivered_at": None,
        "user_response": None,
        "responded_at": None,
    }


async def intervene(
    engine: AsyncEngine,
    settings: RiskSettings,
    assessment: AssessmentRow,
    *,
    send_alert: SendAlert | None = None,
) -> InterventionRow | None:
    """Medium and above: a supportive message, at most one a day per user unless critical;
    critical also an escalation whose alert task is queued. Returns the escalation when one
    was created, else the message, else None (low, or already done for the day)."""
    async with engine.connect() as conn:
        first = await policy.plan(conn, assessment)
    if not first:
        return None
    areas = areas_of(assessment.top_features or [])
    ids = {kind: uuid.uuid4() for kind in first}
    drafts: dict[str, tuple[str, str]] = {}
    if "message" in first:
        drafts["message"] = await llm.compose(settings, assessment.level, areas, ids["message"])
    if "escalation" in first:
        drafts["escalation"] = (escalation_summary(assessment.level, areas), "template")
    async with engine.begin() as conn:
        await policy.lock_subject(conn, assessment.subject_key)
        due = [k for k in await policy.plan(conn, assessment) if k in drafts]
        rows = [_row(assessment, k, *drafts[k], ids[k]) for k in due]
        if rows:
            await conn.execute(insert(InterventionRow), rows)
    created = {row["kind"]: InterventionRow(**row) for row in rows}
    for row in rows:
        CREATED.labels(row["kind"], row["level"], row["source"]).inc()
    escalation = created.get("escalation")
    if escalation is not None:
        try:
            if send_alert is not None:
                await send_alert(escalation.id)
            else:
                await send_alert_task(escalation.id, settings)
        except Exception as exc:  # the row is committed and pending: a resend finds it
            ALERT_SEND_FAILURES.inc()
            log.error("risk_alert_not_queued", error_type=type(exc).__name__)
    return escalation or created.get("message")
