"""retention policies (seeded with the source documents' defaults) and retention runs

Revision ID: compliance_0003
Revises: compliance_0001
Create Date: 2026-11-22

The defaults: raw interactions are deleted after 1 year and training data after 2 years
(Team Eta's retention table); risk assessments after 90 days and old model versions after
30 days (MindMate ML: the assessments' TTL and the models bucket's lifecycle); logs after 90
days (the source documents disagree: MindMate keeps 90 days, Team Eta one year; the issue
asks for 90).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "compliance_0003"
down_revision: str | None = "compliance_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# zone, data_type, days, target_kind, target, date_column, keep_latest
DEFAULTS = (
    ("raw", "events", 365, "delta", "raw/events", "event_date", 0),
    ("processed", "training-data", 730, "objects", "processed/training-data/", None, 0),
    ("processed", "risk-assessments", 90, "objects", "processed/risk-assessments/", None, 0),
    ("models", "model-versions", 30, "objects", "models/", None, 1),
    ("logs", "logs", 90, "objects", "logs/", None, 0),
)


def upgrade() -> None:
    policies = op.create_table(
        "retention_policies",
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("data_type", sa.String(64), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("date_column", sa.String(64), nullable=True),
        sa.Column("keep_latest", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "retention_days BETWEEN 1 AND 3650", name=op.f("ck_retention_policies_retention_days")
        ),
        sa.CheckConstraint(
            "target_kind IN ('delta', 'objects')", name=op.f("ck_retention_policies_target_kind")
        ),
        sa.PrimaryKeyConstraint("zone", "data_type", name="pk_retention_policies"),
        schema="compliance",
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_removed", sa.BigInteger(), nullable=False),
        sa.Column("objects_removed", sa.BigInteger(), nullable=False),
        sa.Column("bytes_removed", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("results", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_retention_runs"),
        schema="compliance",
    )
    op.create_index(
        "ix_retention_runs_created_at", "retention_runs", ["created_at"], schema="compliance"
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        policies,
        [
            {
                "zone": zone,
                "data_type": data_type,
                "retention_days": days,
                "target_kind": kind,
                "target": target,
                "date_column": date_column,
                "keep_latest": keep_latest,
                "updated_by": "default",
                "updated_at": now,
            }
            for zone, data_type, days, kind, target, date_column, keep_latest in DEFAULTS
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_retention_runs_created_at", "retention_runs", schema="compliance")
    op.drop_table("retention_runs", schema="compliance")
    op.drop_table("retention_policies", schema="compliance")
