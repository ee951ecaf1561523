"""Escalation alerts: a JSON POST to `risk_alert_webhook_url` for the clinician team.

The body (`payload`) names the user (subject_key and user_id: the team must know who) and
carries the level, the time, the crisis resources and the disclaimer; never the user's text.
With `risk_alert_webhook_secret` set, `X-MindLake-Signature: sha256=<hex>` is the HMAC-SHA256
of the exact body bytes, so the receiver can check it came from here.

Delivery (`deliver_alert`, run by the risk.deliver_alert task):
- 2xx: `sent`, `delivered_at`;
- any other status or a connection error: `attempts` + 1, `last_error` (the status or the
  exception's class, nothing from the reply), then RetryableAlertError so the task retries
  after `retry_delay`; at `risk_alert_max_attempts` the row becomes `failed` and stays (the
  alert is never deleted: `failed` rows are what an operator looks at);
- no webhook configured: stays `pending` with last_error 'no webhook configured'.
The row is locked (FOR UPDATE SKIP LOCKED) while it is posted: two deliveries of the same
alert never post twice at once.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import structlog
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.risk.config import DISCLAIMER, RiskSettings
from services.risk.interventions.templates import CRISIS_RESOURCES
from services.risk.models import InterventionRow

log = structlog.get_logger(__name__)
ALERTS = Counter(
    "mindlake_risk_alerts_total",
    "Alert delivery attempts, by outcome (sent, retry, failed, unconfigured)",
    ["outcome"],
)
SIGNATURE_HEADER = "X-MindLake-Signature"
MAX_BACKOFF_S = 3600.0
NO_WEBHOOK = "no webhook configured"


class RetryableAlertError(Exception):
    """The receiver did not take the alert; try again after `retry_delay(attempts)`."""

    def __init__(self, attempts: int, reason: str) -> None:
        super().__init__(f"alert delivery failed (attempt {attempts}): {reason}")
        self.attempts = attempts
        self.reason = reason


def retry_delay(attempt: int, settings: RiskSettings) -> float:
    """Seconds before retry after the `attempt`-th failed attempt (1-based): the backoff
    doubling from `risk_alert_backoff_s`, capped at an hour."""
    return float(min(MAX_BACKOFF_S, settings.risk_alert_backoff_s * 2 ** max(0, attempt - 1)))


def payload(row: InterventionRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "type": "risk.escalation",
        "level": row.level,
        "time": row.created_at.isoformat(),
        "day": row.day.isoformat(),
        "subject_key": row.subject_key,
        "user_id": row.user_id,
        "assessment_id": str(row.assessment_id) if row.assessment_id else None,
        "crisis_resources": list(CRISIS_RESOURCES),
        "disclaimer": DISCLAIMER,
    }


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _post(settings: RiskSettings, url: str, body: bytes) -> str | None:
    """None when the receiver took it, else the reason (a status or an exception class)."""
    headers = {"Content-Type": "application/json"}
    if settings.risk_alert_webhook_secret is not None:
        headers[SIGNATURE_HEADER] = signature(
            body, settings.risk_alert_webhook_secret.get_secret_value()
        )
    try:
        async with httpx.AsyncClient(timeout=settings.risk_alert_timeout_s) as client:
            reply = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None if reply.is_success else f"HTTP {reply.status_code}"


async def _set(conn: AsyncConnection, id_: uuid.UUID, **values: Any) -> None:
    await conn.execute(update(InterventionRow).where(InterventionRow.id == id_).values(**values))


async def deliver_alert(engine: AsyncEngine, settings: RiskSettings, intervention_id: Any) -> str:
    """Post the escalation; its delivery status after this call: `sent`, `failed`, `pending`
    (not configured), `missing` (no such escalation: erased), `busy` (another delivery holds
    it). Raises RetryableAlertError when the receiver did not take it and attempts remain."""
    id_ = uuid.UUID(str(intervention_id))
    url = settings.risk_alert_webhook_url
    async with engine.begin() as conn:
        found = await conn.execute(
            select(InterventionRow)
            .where(InterventionRow.id == id_, InterventionRow.kind == "escalation")
            .with_for_update(skip_locked=True)
        )
        mapping = found.mappings().first()
        if mapping is None:
            exists = await conn.scalar(
                select(InterventionRow.id).where(
                    InterventionRow.id == id_, InterventionRow.kind == "escalation"
                )
            )
            return "busy" if exists is not None else "missing"
        row = InterventionRow(**dict(mapping))
        if row.delivery_status in ("sent", "failed"):
            return row.delivery_status
        if not url:
            await _set(conn, id_, last_error=NO_WEBHOOK)
            ALERTS.labels("unconfigured").inc()
            log.warning("risk_alert_unconfigured")
            return "pending"
        reason = await _post(settings, url, orjson.dumps(payload(row)))
        attempts = row.attempts + 1
        if reason is None:
            now = datetime.now(UTC)
            await _set(conn, id_, delivery_status="sent", delivered_at=now, attempts=attempts,
                       last_error=None)  # fmt: skip
            ALERTS.labels("sent").inc()
            return "sent"
        if attempts >= settings.risk_alert_max_attempts:
            await _set(conn, id_, delivery_status="failed", attempts=attempts, last_error=reason)
            ALERTS.labels("failed").inc()
            log.error("risk_alert_failed", attempts=attempts, reason=reason)
            return "failed"
        await _set(conn, id_, attempts=attempts, last_error=reason)
    ALERTS.labels("retry").inc()
    log.warning("risk_alert_retry", attempts=attempts, reason=reason)
    raise RetryableAlertError(attempts, reason)


async def unsent_alerts(engine: AsyncEngine, *, older_than: timedelta) -> list[uuid.UUID]:
    """Escalations still `pending` that were created more than `older_than` ago: their task
    was never queued or was lost; a sweep sends them again."""
    cutoff = datetime.now(UTC) - older_than
    async with engine.connect() as conn:
        rows = await conn.scalars(
            select(InterventionRow.id)
            .where(
                InterventionRow.kind == "escalation",
                InterventionRow.delivery_status == "pending",
                InterventionRow.created_at < cutoff,
            )
            .order_by(InterventionRow.created_at)
        )
        return list(rows)
