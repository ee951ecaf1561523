"""The risk schema's tables. Rows about a user carry `subject_key` (erasure deletes by it)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.risk.db import Base

LEVELS = ("low", "medium", "high", "critical")


class TrainingJobRow(Base):
    """One training run: what it produced, how it compared, whether it was promoted."""

    __tablename__ = "training_jobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | api | cli | demo
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    model_version: Mapped[str | None] = mapped_column(String(64))
    promoted: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # metrics, comparison
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed')", name="status"),
        Index("ix_training_jobs_started_at", "started_at"),
    )


class ModelRow(Base):
    """A trained model version; its artifacts are in the lake at `path`. `alias` is
    `champion` on the one that scores (at most one)."""

    __tablename__ = "models"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    alias: Mapped[str | None] = mapped_column(String(16), unique=True)
    # an erased user was in its training data: the next training run replaces it
    needs_retraining: Mapped[bool] = mapped_column(Boolean, default=False)


class ModelSubjectRow(Base):
    """Who a model version was trained on (its training manifest's users)."""

    __tablename__ = "model_subjects"

    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_model_subjects_subject_key", "subject_key"),)


class AssessmentRow(Base):
    """One user's assessment for one day (kept `risk_assessment_retention_days`)."""

    __tablename__ = "assessments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subject_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(Text)
    day: Mapped[date] = mapped_column(Date)
    assessed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(16))
    coverage: Mapped[float] = mapped_column(Float)
    low_coverage: Mapped[bool] = mapped_column(Boolean)
    model_version: Mapped[str] = mapped_column(String(64))
    top_features: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)

    __table_args__ = (
        CheckConstraint(f"level IN {LEVELS}", name="level"),
        Index("uq_assessments_subject_day", "subject_key", "day", unique=True),
        Index("ix_assessments_day_level", "day", "level"),
        Index("ix_assessments_assessed_at", "assessed_at"),
    )


class InterventionRow(Base):
    """A supportive message or an escalation, with its delivery and the user's response."""

    __tablename__ = "interventions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subject_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(Text)
    assessment_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    day: Mapped[date] = mapped_column(Date)
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # message | escalation
    source: Mapped[str] = mapped_column(String(16))  # template | llm
    message: Mapped[str] = mapped_column(Text)
    delivery_status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user_response: Mapped[str | None] = mapped_column(String(32))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"level IN {LEVELS}", name="level"),
        CheckConstraint("kind IN ('message', 'escalation')", name="kind"),
        CheckConstraint("delivery_status IN ('pending', 'sent', 'failed')", name="delivery"),
        Index("ix_interventions_subject_day", "subject_key", "day"),
        Index("ix_interventions_created_at", "created_at"),
    )
