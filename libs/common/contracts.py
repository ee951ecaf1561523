"""Cross-service contracts: queue names, task names and task payloads, by name only.

Services never import each other; they send tasks by these names. A task `<service>.<verb>`
is routed to the queue named after its service.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class Queue(StrEnum):
    INGEST = "ingest"
    CONSENT = "consent"
    COMPLIANCE = "compliance"
    EXPORT = "export"
    EMBEDDING = "embedding"
    RISK = "risk"
    CATALOG = "catalog"


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
    EMBEDDING_SYNC = "embedding.sync"  # embed what landed in raw/events since the watermark
    EMBEDDING_RECONCILE = "embedding.reconcile"  # weekly: add what is missing, drop the stale
    EMBEDDING_BACKUP = "embedding.backup"  # embeddings/<model>/<date>/ in the lake
    EMBEDDING_CONSENT_CHANGED = "embedding.consent_changed"  # consent.changed, forwarded
    EMBEDDING_DROP_WITHDRAWN = "embedding.drop_withdrawn"  # the sweep behind the event
    EMBEDDING_SUBJECT_STEP = "embedding.subject_step"
    EMBEDDING_PERSONA_CATEGORIZE = "embedding.persona_categorize"  # stage 1 -> 2: one upload
    EMBEDDING_PERSONA_BUILD = "embedding.persona_build"  # stage 2 -> 3: one user's personas
    RISK_ASSESS = "risk.assess"  # daily: features of the day, scores, interventions
    RISK_TRAIN = "risk.train"  # monthly and on demand: train, compare, maybe promote
    RISK_DELIVER_ALERT = "risk.deliver_alert"  # a critical escalation to the alert webhook
    RISK_MONITOR = "risk.monitor"  # feature drift and score shift of the latest assessments
    RISK_SUBJECT_STEP = "risk.subject_step"
    CATALOG_REGISTER = "catalog.register"  # an event: a writer committed an asset (AssetWritten)
    CATALOG_RECONCILE = "catalog.reconcile"  # daily: every asset in the lake, found and inspected
    CATALOG_RECORD_RUN = "catalog.record_run"  # an event: a job's run started or ended (RunEvent)
    CATALOG_SUBJECT_STEP = "catalog.subject_step"


# Tasks the consent worker forwards every `consent.changed` event to (payload ConsentChanged):
# services that hold derived data react to a withdrawal without polling.
CONSENT_SUBSCRIBERS: tuple[TaskName, ...] = (TaskName.EMBEDDING_CONSENT_CHANGED,)


class SubjectStore(StrEnum):
    """Every store that can hold a user's data, named `<service>.<store>`.

    Erasure and portability visit each one through its service's `subject_step` task. A
    service that adds a store adds it here and registers a handler in its
    `subjects/stores.py` (HANDLERS); tests/test_subject_stores.py fails until both agree, and
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
    EMBEDDING_VECTORS = "embedding.vectors"  # Qdrant points (by subject_key)
    EMBEDDING_BACKUPS = "embedding.backups"  # embeddings/<model>/<date>/ Parquet backups
    EMBEDDING_PERSONAS = "embedding.personas"  # personas/<subject_key>/ stages and upload rows
    RISK_FEATURES = "risk.features"  # the daily features Delta table (by subject_key)
    RISK_ASSESSMENTS = "risk.assessments"  # risk.assessments rows
    RISK_INTERVENTIONS = "risk.interventions"  # risk.interventions rows
    RISK_TRAINING_MANIFESTS = "risk.training_manifests"  # who a model was trained on
    CATALOG_DERIVED = "catalog.derived"  # derived assets a user was computed from


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


class AssetWritten(BaseModel):
    """Payload of `catalog.register`, sent by a writer after its commit: the catalog inspects
    the asset (schema, version, size) itself, so the writer says only where and who."""

    path: Annotated[str, Field(min_length=1, max_length=1024)]  # under the lake root
    service: Annotated[str, Field(min_length=1, max_length=64)]
    at: datetime


class DatasetVersion(BaseModel):
    """An asset a run read or wrote, at the version it saw (None: not versioned)."""

    path: Annotated[str, Field(min_length=1, max_length=1024)]
    version: Annotated[int, Field(ge=0)] | None = None


class RunEvent(BaseModel):
    """Payload of `catalog.record_run`: a job's run started, completed or failed, with what
    it read and wrote. The catalog keeps every run's edges (earlier runs keep their lineage)
    and forwards the event to OpenLineage when configured."""

    run_id: uuid.UUID
    job: Annotated[str, Field(min_length=1, max_length=128)]  # `<service>.<job>`
    service: Annotated[str, Field(min_length=1, max_length=64)]
    state: Literal["START", "COMPLETE", "FAIL"]
    at: datetime
    inputs: list[DatasetVersion] = Field(default_factory=list, max_length=1000)
    outputs: list[DatasetVersion] = Field(default_factory=list, max_length=1000)
    facets: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


def queue_for(task_name: str) -> str:
    """Routing by prefix: `ingest.flush` -> queue `ingest`."""
    return task_name.split(".", 1)[0]
