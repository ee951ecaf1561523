"""outbox, flush batches, user identifiers

Revision ID: ingest_0001
Revises:
Create Date: 2026-11-21
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("flush_batch", sa.BigInteger(), nullable=True),
        sa.Column("flushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_outbox"),
        sa.UniqueConstraint("seq", name="uq_outbox_seq"),
        schema=S,
    )
    op.create_index("ix_outbox_pending", "outbox", ["seq"], schema=S,
                    postgresql_where=sa.text("flush_batch IS NULL"))
    op.create_index("ix_outbox_unflushed", "outbox", ["received_at"], schema=S,
                    postgresql_where=sa.text("flushed_at IS NULL"))
    op.create_index("ix_outbox_flush_batch", "outbox", ["flush_batch"], schema=S)
    op.create_index("ix_outbox_user_id", "outbox", ["user_id"], schema=S)
    op.create_table(
        "flush_batches",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lake_version", sa.BigInteger(), nullable=True),
        sa.Column("bytes_landed", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_flush_batches"),
        schema=S,
    )
    op.create_table(
        "user_identifiers",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("user_id", "kind", "value", name="pk_user_identifiers"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("user_identifiers", schema=S)
    op.drop_table("flush_batches", schema=S)
    op.drop_table("outbox", schema=S)
