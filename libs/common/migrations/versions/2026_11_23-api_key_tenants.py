"""api key tenants

Revision ID: common_0004
Revises: common_0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "common_0004"
down_revision: str | None = "common_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing keys reach every tenant, as they did before the limit existed; narrow one by
    # creating a limited key and revoking the old one.
    op.add_column(
        "api_keys",
        sa.Column(
            "tenants",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{*}'"),
            nullable=False,
        ),
        schema="common",
    )


def downgrade() -> None:
    op.drop_column("api_keys", "tenants", schema="common")
