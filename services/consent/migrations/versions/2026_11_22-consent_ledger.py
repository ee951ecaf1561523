"""consent: the append-only ledger and the current state a trigger keeps beside it

Revision ID: consent_0001
Revises:
Create Date: 2026-11-22

Append-only is enforced here, not only in code: UPDATE, DELETE and TRUNCATE on
consent.ledger raise. ERASURE NOTE (later issue): erasing a user must not edit history in
place. The intended path is a tombstone — a privileged function that, with
`SET LOCAL consent.erasure = '<request id>'`, replaces the user's rows by pseudonymised
tombstones (user_id -> keyed hash, lawful_basis/policy kept) and deletes their `current`
rows; the guard below is the one place to teach about that setting. Until then, nothing
can remove a ledger row short of dropping the trigger.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "consent_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = "('ai_training', 'analytics', 'personalization', 'risk_assessment', 'research')"
SOURCES = "('app', 'admin', 'import')"


STATEMENTS = (
    """
    CREATE FUNCTION consent.ledger_is_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'consent.ledger is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER ledger_append_only
        BEFORE UPDATE OR DELETE ON consent.ledger
        FOR EACH ROW EXECUTE FUNCTION consent.ledger_is_append_only()
    """,
    """
    CREATE TRIGGER ledger_no_truncate
        BEFORE TRUNCATE ON consent.ledger
        FOR EACH STATEMENT EXECUTE FUNCTION consent.ledger_is_append_only()
    """,
    # The current state: the newest entry (highest id) per user and purpose wins.
    """
    CREATE FUNCTION consent.ledger_to_current() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO consent.current AS c
            (user_id, purpose, granted, lawful_basis, policy_version, source, as_of, ledger_id)
        VALUES (NEW.user_id, NEW.purpose, NEW.granted, NEW.lawful_basis,
                NEW.policy_version, NEW.source, NEW.recorded_at, NEW.id)
        ON CONFLICT (user_id, purpose) DO UPDATE
            SET granted = EXCLUDED.granted, lawful_basis = EXCLUDED.lawful_basis,
                policy_version = EXCLUDED.policy_version, source = EXCLUDED.source,
                as_of = EXCLUDED.as_of, ledger_id = EXCLUDED.ledger_id
            WHERE c.ledger_id < EXCLUDED.ledger_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER ledger_current
        AFTER INSERT ON consent.ledger
        FOR EACH ROW EXECUTE FUNCTION consent.ledger_to_current()
    """,
)


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("lawful_basis", sa.String(32), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor_key_id", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger"),
        sa.CheckConstraint(f"purpose IN {PURPOSES}", name="ck_ledger_purpose"),
        sa.CheckConstraint(f"source IN {SOURCES}", name="ck_ledger_source"),
        schema="consent",
    )
    op.create_index("ix_ledger_user_id_id", "ledger", ["user_id", "id"], schema="consent")
    op.create_table(
        "current",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("lawful_basis", sa.String(32), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "purpose", name="pk_current"),
        schema="consent",
    )
    op.create_index(
        "ix_current_granted_purpose_user",
        "current",
        ["purpose", "user_id"],
        schema="consent",
        postgresql_where=sa.text("granted"),
    )
    for statement in STATEMENTS:
        op.execute(statement)  # one at a time: asyncpg prepares each statement


def downgrade() -> None:
    op.execute("DROP TABLE consent.current")
    op.execute("DROP TABLE consent.ledger")
    op.execute("DROP FUNCTION consent.ledger_to_current()")
    op.execute("DROP FUNCTION consent.ledger_is_append_only()")
