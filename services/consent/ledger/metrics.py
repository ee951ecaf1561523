"""Consent-rate gauges for Grafana: labels are purposes only, never user ids."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import ConsentPurpose
from libs.common.metrics import Gauge
from services.consent.ledger import repository

CONSENT_RATE = Gauge(
    "mindlake_consent_rate",
    "Share of users with a consent record who currently grant the purpose",
    ["purpose"],
    multiprocess_mode="mostrecent",
)
CONSENT_GRANTED = Gauge(
    "mindlake_consent_granted_users",
    "Users who currently grant the purpose",
    ["purpose"],
    multiprocess_mode="mostrecent",
)
CONSENT_USERS = Gauge(
    "mindlake_consent_users",
    "Users with at least one consent record",
    multiprocess_mode="mostrecent",
)


async def refresh(conn: AsyncConnection) -> dict[str, float]:
    users, granted = await repository.rates(conn)
    CONSENT_USERS.set(users)
    rates: dict[str, float] = {}
    for purpose in ConsentPurpose:
        count = granted.get(purpose.value, 0)
        rates[purpose.value] = count / users if users else 0.0
        CONSENT_GRANTED.labels(purpose=purpose.value).set(count)
        CONSENT_RATE.labels(purpose=purpose.value).set(rates[purpose.value])
    return rates
