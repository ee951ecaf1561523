"""flush batch token: names the batch's Delta commit, unique across databases

Revision ID: ingest_0002
Revises: ingest_0001
Create Date: 2026-11-21
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_0002"
down_revision: str | None = "ingest_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("flush_batches", sa.Column("token", sa.String(32), nullable=True),
                  schema="ingest")


def downgrade() -> None:
    op.drop_column("flush_batches", "token", schema="ingest")
