"""catalog derived assets: what each transformation read, and whom it was computed from

Revision ID: catalog_0003
Revises: catalog_0002
Create Date: 2026-12-05 00:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "catalog_0003"
down_revision: str | None = "catalog_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "derived",
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("source_location", sa.Text(), nullable=False),
        sa.Column("source_version", sa.BigInteger(), nullable=True),
        sa.Column("transformation", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("location"),
        schema="catalog",
    )
    op.create_table(
        "derived_subjects",
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["location"], ["catalog.derived.location"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("location", "subject_key"),
        schema="catalog",
    )
    op.create_index("ix_derived_subjects_subject_key", "derived_subjects",
                    ["subject_key"], unique=False, schema="catalog")


def downgrade() -> None:
    op.drop_index("ix_derived_subjects_subject_key", table_name="derived_subjects",
                  schema="catalog")
    op.drop_table("derived_subjects", schema="catalog")
    op.drop_table("derived", schema="catalog")
