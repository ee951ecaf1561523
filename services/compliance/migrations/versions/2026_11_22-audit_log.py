"""audit log

Revision ID: compliance_0001
Revises:
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "compliance_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("asset", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("device", sa.String(500), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.UniqueConstraint("entry_id", name="uq_audit_log_entry_id"),
        schema="compliance",
    )
    op.create_index("ix_audit_log_subject_id", "audit_log", ["subject", "id"], schema="compliance")
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"], schema="compliance")
    op.create_index("ix_audit_log_at", "audit_log", ["at"], schema="compliance")
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
        schema="compliance",
    )


def downgrade() -> None:
    op.drop_table("audit_chain_head", schema="compliance")
    op.drop_table("audit_log", schema="compliance")
