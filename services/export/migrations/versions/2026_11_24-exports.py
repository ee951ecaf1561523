"""export jobs and their lineage

Revision ID: export_0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "export_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("progress", postgresql.JSONB(), nullable=False),
        sa.Column("counts", postgresql.JSONB(), nullable=True),
        sa.Column("average_quality", sa.Float(), nullable=True),
        sa.Column("paths", postgresql.JSONB(), nullable=False),
        sa.Column("superseded", postgresql.JSONB(), nullable=False),
        sa.Column("manifest", postgresql.JSONB(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_exports_status")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_exports"),
        schema="export",
    )
    op.create_index(
        "ix_exports_created_at_id", "exports", ["created_at", "id"], schema="export"
    )
    op.create_table(
        "lineage",
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("file", sa.String(500), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["export.exports.id"],
            name="fk_lineage_export_id_exports",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("export_id", "file", "line", name="pk_lineage"),
        schema="export",
    )
    op.create_index("ix_lineage_subject_key", "lineage", ["subject_key"], schema="export")


def downgrade() -> None:
    op.drop_index("ix_lineage_subject_key", "lineage", schema="export")
    op.drop_table("lineage", schema="export")
    op.drop_index("ix_exports_created_at_id", "exports", schema="export")
    op.drop_table("exports", schema="export")
