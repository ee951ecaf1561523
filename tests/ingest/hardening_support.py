"""Helpers shared by the issue 10 intake and dead-letter tests: the characters Postgres
refuses (NUL, a value past bigint), the outbox's event ids and a Prometheus sample."""

from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy import text

from libs.common.db import get_engine

NUL = "\x00"
BIG = 2**63  # one past Postgres' bigint


async def outbox_ids() -> set[str]:
    async with get_engine().connect() as conn:
        return set((await conn.scalars(text("SELECT event_id FROM ingest.outbox"))).all())


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
