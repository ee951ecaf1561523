"""dead_letters: find a user's rejected entries for erasure without a full scan

Revision ID: ingest_0008
Revises: ingest_0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ingest_0008"
down_revision: str | None = "ingest_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "ingest"
# The same expression as services/ingest/subject_stores.DEAD_LETTER_USER (queries must match
# it exactly to use the index).
USER = (
    "coalesce(nullif(payload ->> 'userId', ''), nullif(payload ->> 'user_id', ''),"
    " 'anon:' || nullif(coalesce(payload ->> 'anonymousId', payload ->> 'anonymous_id'), ''))"
)


def upgrade() -> None:
    op.create_index("ix_dead_letters_user", "dead_letters", [sa.text(f"({USER})")], schema=S)
    # payloads that never became an object (a CSV line): searched as text, few of them
    op.create_index(
        "ix_dead_letters_raw",
        "dead_letters",
        ["id"],
        schema=S,
        postgresql_where=sa.text("jsonb_typeof(payload) <> 'object'"),
    )


def downgrade() -> None:
    op.drop_index("ix_dead_letters_raw", table_name="dead_letters", schema=S)
    op.drop_index("ix_dead_letters_user", table_name="dead_letters", schema=S)
