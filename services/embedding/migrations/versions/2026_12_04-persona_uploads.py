"""embedding persona uploads

Revision ID: embedding_0002
Revises: embedding_0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "embedding_0002"
down_revision: str | None = "embedding_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "embedding"


def upgrade() -> None:
    op.create_table(
        "persona_uploads",
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("name_sealed", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stage", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("claim", sa.Uuid(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=True),
        sa.Column("categories", postgresql.JSONB(), nullable=True),
        sa.Column("categorizer", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("categorized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_persona_uploads")),
        schema=S,
    )
    op.create_index(
        "ix_persona_uploads_subject_key", "persona_uploads", ["subject_key"], schema=S
    )


def downgrade() -> None:
    op.drop_table("persona_uploads", schema=S)
