"""csv_uploads: one row per CSV upload with its validation report

Revision ID: ingest_0005
Revises: ingest_0003
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ingest_0005"
down_revision: str | None = "ingest_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "csv_uploads",
        sa.Column("upload_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("data_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("report", postgresql.JSONB(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("upload_id", name="pk_csv_uploads"),
        schema=S,
    )
    op.create_index("ix_csv_uploads_tenant", "csv_uploads", ["tenant", "data_type", "created_at"],
                    schema=S)


def downgrade() -> None:
    op.drop_table("csv_uploads", schema=S)
