"""outbox: index flush_batch only where it is set (every insert paid for a NULL entry)

Revision ID: ingest_0003
Revises: ingest_0002
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_0003"
down_revision: str | None = "ingest_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "ingest"


def upgrade() -> None:
    op.drop_index("ix_outbox_flush_batch", table_name="outbox", schema=S)
    op.create_index("ix_outbox_flush_batch", "outbox", ["flush_batch"], schema=S,
                    postgresql_where=sa.text("flush_batch IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_outbox_flush_batch", table_name="outbox", schema=S)
    op.create_index("ix_outbox_flush_batch", "outbox", ["flush_batch"], schema=S)
