"""catalog lineage: runs and the assets each read and wrote

Revision ID: catalog_0002
Revises: catalog_0001
Create Date: 2026-12-04 21:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "catalog_0002"
down_revision: str | None = "catalog_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("job", sa.String(length=128), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("facets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
        schema="catalog",
    )
    op.create_table(
        "run_datasets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("asset_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["catalog.runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "direction", "location", name="run_dataset"),
        schema="catalog",
    )
    op.create_index("ix_run_datasets_asset", "run_datasets", ["asset_id", "direction"],
                    unique=False, schema="catalog")


def downgrade() -> None:
    op.drop_index("ix_run_datasets_asset", table_name="run_datasets", schema="catalog")
    op.drop_table("run_datasets", schema="catalog")
    op.drop_table("runs", schema="catalog")
