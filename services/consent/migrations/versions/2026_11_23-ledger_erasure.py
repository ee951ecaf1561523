"""consent: the append-only guard lets an erasure delete a user's ledger rows

Revision ID: consent_0003
Revises: consent_0002
Create Date: 2026-11-23

The one privileged path through the append-only ledger: a DELETE is allowed only inside a
transaction that ran `SET LOCAL consent.erasure = '<request id>'` (the `consent.ledger`
erasure handler, services/consent/subject_stores.py). UPDATE and TRUNCATE stay refused,
and so does any DELETE without the setting.

The first migration's note planned to keep pseudonymised rows (user id -> keyed hash).
Erasure deletes them instead: the keyed hash is still personal data while the key exists,
the tombstone (consent.tombstones, keyed hash only) already records that the user was
erased and refuses new consent for them, and history kept under a pseudonym would be the
user's consent record in all but name.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "consent_0003"
down_revision: str | None = "consent_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD = """
CREATE OR REPLACE FUNCTION consent.ledger_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('consent.erasure', true), '') <> '' THEN
        RETURN OLD;  -- an erasure (SET LOCAL consent.erasure = '<request id>')
    END IF;
    RAISE EXCEPTION 'consent.ledger is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""

ORIGINAL = """
CREATE OR REPLACE FUNCTION consent.ledger_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent.ledger is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.execute(GUARD)


def downgrade() -> None:
    op.execute(ORIGINAL)
