"""Cross-service contracts: queue names, task names and the beat schedule, by name only.

Services never import each other; they send tasks by these names. A task `<service>.<verb>`
is routed to the queue named after its service.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from celery.schedules import crontab
from pydantic import BaseModel, Field

from libs.common.settings import CommonSettings


class Queue(StrEnum):
    INGEST = "ingest"
    CONSENT = "consent"
    COMPLIANCE = "compliance"
    EXPORT = "export"


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
    # Subject rights (erasure, portability): one step task per service runs its stores'
    # handlers; compliance advances the request when a step reports back.
    INGEST_SUBJECT_STEP = "ingest.subject_step"
    CONSENT_SUBJECT_STEP = "consent.subject_step"
    COMPLIANCE_SUBJECT_STEP = "compliance.subject_step"
    COMPLIANCE_SUBJECT_ADVANCE = "compliance.subject_advance"
    COMPLIANCE_SUBJECT_VERIFY = "compliance.subject_verify"
    COMPLIANCE_SUBJECT_SWEEP = "compliance.subject_sweep"
    COMPLIANCE_RETENTION = "compliance.retention"
    COMPLIANCE_REPORT = "compliance.report"
    EXPORT_RUN = "export.run"  # one training-data export job (services/export)
    EXPORT_SCHEDULED = "export.scheduled"  # beat: the daily / weekly export
    EXPORT_SUBJECT_STEP = "export.subject_step"
    EXPORT_MONTHLY_REPORT = "export.monthly_report"  # analytics/monthly_reports/<YYYY>/<MM>/
    EXPORT_WEEKLY_SUMMARY = "export.weekly_summary"  # analytics/weekly_summaries/<YYYY>-W<ww>
    EXPORT_RECOMMENDER = "export.recommender"  # processed/recommender/<tenant>/<run>/
    EXPORT_DROP_WITHDRAWN = "export.drop_withdrawn"  # withdrawn users out of finished exports


class SubjectStore(StrEnum):
    """Every store that can hold a user's data, named `<service>.<store>`.

    Erasure and portability visit each one through its service's `subject_step` task. A
    service that adds a store adds it here and registers a handler in its
    `subject_stores.HANDLERS`; tests/test_subject_stores.py fails until both agree, and
    until every Postgres table is claimed by a store or declared free of user data.
    """

    INGEST_OUTBOX = "ingest.outbox"
    INGEST_IDENTIFIERS = "ingest.identifiers"
    INGEST_DEAD_LETTERS = "ingest.dead_letters"
    INGEST_RAW_EVENTS = "ingest.raw_events"
    INGEST_TENANT_TABLES = "ingest.tenant_tables"
    INGEST_PULLED_TABLES = "ingest.pulled_tables"
    INGEST_QUARANTINE = "ingest.quarantine"
    INGEST_PULL_DROPS = "ingest.pull_drops"  # files file-drop jobs took from the lake
    CONSENT_LEDGER = "consent.ledger"
    CONSENT_BACKUPS = "consent.backups"
    COMPLIANCE_AUDIT_LOG = "compliance.audit_log"
    COMPLIANCE_ARCHIVES = "compliance.archives"
    EXPORT_TRAINING_DATA = "export.training_data"  # lines of training exports (by lineage)
    EXPORT_RECOMMENDER = "export.recommender"  # recommender-data runs (by subject_key)
    EXPORT_ANALYTICS_REPORTS = "export.analytics_reports"  # monthly engagement rows


def step_task_for(store: str) -> str:
    """`ingest.outbox` -> `ingest.subject_step` (routed to the ingest queue)."""
    return f"{queue_for(store)}.subject_step"


class SubjectStep(BaseModel):
    """Payload of `<service>.subject_step`: one store's step of one erasure/portability
    request, sent by compliance (and resent by its sweep while the step is not done)."""

    request_id: uuid.UUID
    store: str  # a SubjectStore value
    phase: Literal["collect", "erase"]


class SubjectRequestRef(BaseModel):
    """Payload of `compliance.subject_advance` and `compliance.subject_verify`: the request
    to look at again."""

    request_id: uuid.UUID


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


def _crontab(expr: str) -> crontab:
    """A 5-field cron (minute hour day-of-month month day-of-week), UTC."""
    minute, hour, day_of_month, month_of_year, day_of_week = expr.split()
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)


def beat_schedule(
    settings: CommonSettings, *, flush_interval_s: float, compact_cron: str
) -> dict[str, dict[str, Any]]:
    """Every scheduled job of the platform, in one registry read by the single beat process.
    Its crons are settings (`MINDLAKE_*_CRON`); ingest's two come from ingest's settings."""
    return {
        "ingest-flush": {
            "task": TaskName.INGEST_FLUSH,
            "schedule": flush_interval_s,
            "options": {"expires": max(flush_interval_s * 2, 5)},
        },
        "ingest-compact": {
            "task": TaskName.INGEST_COMPACT,
            "schedule": _crontab(compact_cron),
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
        "export-drop-withdrawn": {  # withdrawn ai_training consent reaches finished exports
            "task": TaskName.EXPORT_DROP_WITHDRAWN,
            "schedule": 600.0,
            "options": {"expires": 600},
        },
        "compliance-subject-sweep": {  # erasure/export steps due for a retry, or lost
            "task": TaskName.COMPLIANCE_SUBJECT_SWEEP,
            "schedule": 15.0,
            "options": {"expires": 30},
        },
        "ingest-prune-outbox": {
            "task": TaskName.INGEST_PRUNE_OUTBOX,
            "schedule": crontab(minute="30", hour="*"),
            "options": {"expires": 3600},
        },
        "compliance-retention": {  # deletes what is past its retention policy
            "task": TaskName.COMPLIANCE_RETENTION,
            "schedule": _crontab(settings.compliance_retention_cron),
            "options": {"expires": 3600},
        },
        "compliance-report": {  # yesterday's report to analytics/compliance/<day>.json
            "task": TaskName.COMPLIANCE_REPORT,
            "schedule": _crontab(settings.compliance_report_cron),
            "options": {"expires": 3600},
        },
        "export-daily": {  # training data of the day before
            "task": TaskName.EXPORT_SCHEDULED,
            "schedule": _crontab(settings.export_daily_cron),
            "kwargs": {"period": "daily"},
            "options": {"expires": 3600},
        },
        "export-weekly": {  # full export of the last 7 days
            "task": TaskName.EXPORT_SCHEDULED,
            "schedule": _crontab(settings.export_weekly_cron),
            "kwargs": {"period": "weekly"},
            "options": {"expires": 3600},
        },
        "export-monthly-report": {  # analytics reports of the month before
            "task": TaskName.EXPORT_MONTHLY_REPORT,
            "schedule": _crontab(settings.export_monthly_cron),
            "options": {"expires": 3600},
        },
        "export-weekly-summary": {  # analytics summary of the ISO week before
            "task": TaskName.EXPORT_WEEKLY_SUMMARY,
            "schedule": _crontab(settings.export_weekly_summary_cron),
            "options": {"expires": 3600},
        },
        "export-recommender": {  # recommender training data of every tenant (Team Eta: 6 h)
            "task": TaskName.EXPORT_RECOMMENDER,
            "schedule": settings.export_recsys_interval_h * 3600,
            "options": {"expires": settings.export_recsys_interval_h * 1800},
        },
    }
