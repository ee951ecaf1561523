"""exports: one job per scheduled period window (a redelivered beat message finds it)

Revision ID: export_0002
Revises: export_0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "export_0002"
down_revision: str | None = "export_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "export"


def upgrade() -> None:
    # NULL for jobs made on request and for the beat's jobs made before this revision
    op.add_column("exports", sa.Column("schedule_key", sa.String(64), nullable=True), schema=S)
    op.create_unique_constraint("uq_exports_schedule_key", "exports", ["schedule_key"], schema=S)


def downgrade() -> None:
    op.drop_constraint("uq_exports_schedule_key", "exports", schema=S, type_="unique")
    op.drop_column("exports", "schedule_key", schema=S)
