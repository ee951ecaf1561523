"""consent: the ledger's check constraints named as the model names them

Revision ID: consent_0004
Revises: consent_0003
Create Date: 2026-11-25

consent_0001 gave `ck_ledger_purpose` and `ck_ledger_source` as full names, and the naming
convention prefixed them again (`ck_ledger_ck_ledger_purpose`). Renamed to the names the
model's convention gives, so a migration that drops or replaces them finds them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "consent_0004"
down_revision: str | None = "consent_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMES = ("purpose", "source")


def upgrade() -> None:
    for name in NAMES:
        op.execute(
            f"ALTER TABLE consent.ledger RENAME CONSTRAINT ck_ledger_ck_ledger_{name}"
            f" TO ck_ledger_{name}"
        )


def downgrade() -> None:
    for name in NAMES:
        op.execute(
            f"ALTER TABLE consent.ledger RENAME CONSTRAINT ck_ledger_{name}"
            f" TO ck_ledger_ck_ledger_{name}"
        )
