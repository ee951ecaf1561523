"""Cross-service contracts: queue names, task names and the beat schedule, by name only.

Services never import each other; they send tasks by these names. A task `<service>.<verb>`
is routed to the queue named after its service.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from celery.schedules import crontab
from pydantic import BaseModel, Field


class Queue(StrEnum):
    INGEST = "ingest"
    CONSENT = "consent"
    COMPLIANCE = "compliance"


class TaskName(StrEnum):
    INGEST_FLUSH = "ingest.flush"
    INGEST_COMPACT = "ingest.compact"
    INGEST_PRUNE_OUTBOX = "ingest.prune_outbox"
    INGEST_SCRUB_DEAD_LETTERS = "ingest.scrub_dead_letters"
    INGEST_PULL_DUE = "ingest.pull_due"
    INGEST_PULL_RUN = "ingest.pull_run"
    CONSENT_CHANGED = "consent.changed"  # an event: a user's consent changed (ConsentChanged)
    CONSENT_BACKUP = "consent.backup"
    COMPLIANCE_CHAIN_AUDIT = "compliance.chain_audit"


class ConsentPurpose(StrEnum):
    """What a user's data may be used for; each needs the user's consent for that purpose."""

    AI_TRAINING = "ai_training"
    ANALYTICS = "analytics"
    PERSONALIZATION = "personalization"
    RISK_ASSESSMENT = "risk_assessment"
    RESEARCH = "research"


class ConsentChanged(BaseModel):
    """Payload of `consent.changed`, sent after the change is committed."""

    user_id: Annotated[str, Field(max_length=128)]
    purposes: list[ConsentPurpose]  # the purposes whose entries were appended
    granted: list[ConsentPurpose]  # of those, the ones now granted
    at: datetime


def queue_for(task_name: str) -> str:
    """Routing by prefix: `ingest.flush` -> queue `ingest`."""
    return task_name.split(".", 1)[0]


def beat_schedule(*, flush_interval_s: float, compact_cron: str) -> dict[str, dict[str, Any]]:
    """Every scheduled job of the platform, in one registry read by the single beat process."""
    minute, hour, day_of_month, month_of_year, day_of_week = compact_cron.split()
    return {
        "ingest-flush": {
            "task": TaskName.INGEST_FLUSH,
            "schedule": flush_interval_s,
            "options": {"expires": max(flush_interval_s * 2, 5)},
        },
        "ingest-compact": {
            "task": TaskName.INGEST_COMPACT,
            "schedule": crontab(minute, hour, day_of_week, day_of_month, month_of_year),
            "options": {"expires": 3600},
        },
        "ingest-scrub-dead-letters": {  # a safety net: recording also triggers a scrub
            "task": TaskName.INGEST_SCRUB_DEAD_LETTERS,
            "schedule": 60.0,
            "options": {"expires": 120},
        },
        "ingest-pull-due": {  # claims due pull jobs; each then runs as its own task
            "task": TaskName.INGEST_PULL_DUE,
            "schedule": 30.0,
            "options": {"expires": 30},
        },
        "consent-backup": {  # daily copy of the ledger to the lake
            "task": TaskName.CONSENT_BACKUP,
            "schedule": crontab(minute="45", hour="2"),
            "options": {"expires": 3600},
        },
        "compliance-chain-audit": {  # audit outbox -> hash chain; also `POST /v1/audit/chain`
            "task": TaskName.COMPLIANCE_CHAIN_AUDIT,
            "schedule": 3.0,
            "options": {"expires": 10},
        },
        "ingest-prune-outbox": {
            "task": TaskName.INGEST_PRUNE_OUTBOX,
            "schedule": crontab(minute="30", hour="*"),
            "options": {"expires": 3600},
        },
    }
