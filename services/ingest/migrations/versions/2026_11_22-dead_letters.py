"""dead_letters: every rejected entry, with its reason, to inspect, replay or discard

Revision ID: ingest_0004
Revises: ingest_0003
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ingest_0004"
down_revision: str | None = "ingest_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("service", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("field", sa.String(200), nullable=True),
        sa.Column("error_kind", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("scrubbed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), server_default=sa.text("'open'"), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_event_id", sa.String(128), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        schema=S,
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"], schema=S)
    op.create_index("ix_dead_letters_open", "dead_letters", ["source", "id"], schema=S,
                    postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_dead_letters_unscrubbed", "dead_letters", ["id"], schema=S,
                    postgresql_where=sa.text("scrubbed_at IS NULL"))


def downgrade() -> None:
    op.drop_table("dead_letters", schema=S)
