"""audit outbox

Revision ID: common_0002
Revises: common_0001
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "common_0002"
down_revision: str | None = "common_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("asset", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("device", sa.String(500), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_outbox"),
        sa.UniqueConstraint("entry_id", name="uq_audit_outbox_entry_id"),
        schema="common",
    )


def downgrade() -> None:
    op.drop_table("audit_outbox", schema="common")
