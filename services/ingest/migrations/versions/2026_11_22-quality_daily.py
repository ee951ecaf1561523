"""data quality tallies per day, source and data type

Revision ID: ingest_0007
Revises: ingest_0003
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_0007"
down_revision: str | None = "ingest_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("data_type", sa.String(64), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("duplicate", sa.BigInteger(), nullable=False),
        sa.Column("fields_declared", sa.BigInteger(), nullable=False),
        sa.Column("fields_filled", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("day", "source", "data_type", name="pk_quality_daily"),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_table("quality_daily", schema="ingest")
