"""audit log: the chain hashes the subject's keyed hash, so erasure can blank the subject

Revision ID: compliance_0002
Revises: compliance_0001
Create Date: 2026-11-23

Adds `subject_key` (libs.common.subjects.subject_key of `subject`), backfills it, and
re-hashes the existing chain in order with the new encoding (services/compliance/chain.py:
`subject_key` in place of `subject`), then moves the head. Re-hashing rewrites history,
which an audit chain must never do in production: this is acceptable only because MindLake
is pre-production and no chain has been handed to an auditor yet. Runs under the chain lock,
so no chainer appends meanwhile. The downgrade drops the column and re-hashes the old way.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

from libs.common.settings import get_settings
from libs.common.subjects import subject_key

revision: str = "compliance_0002"
down_revision: str | None = "compliance_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
PAGE = 5_000
# The canonical encoding, frozen here (chain.py may change later; this migration must not).
FIELDS = ("id", "entry_id", "actor", "purpose", "action", "asset", "client_ip", "device")


def _hash(row: Any, prev: str, subject_field: str, subject_value: str | None) -> str:
    body = {name: getattr(row, name) for name in FIELDS}
    body["entry_id"] = str(row.entry_id)
    body[subject_field] = subject_value
    body["at"] = row.at.astimezone(UTC).isoformat(timespec="microseconds")
    body["prev_hash"] = prev
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _rehash(subject_field: str, subject_of: Callable[[Any], str | None]) -> None:
    """Recompute every row's prev_hash and hash in chain order, then the head."""
    bind = op.get_bind()
    bind.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('compliance-chain-audit'))"))
    key_set = ", subject_key = :k" if subject_field == "subject_key" else ""
    update = sa.text(
        f"UPDATE compliance.audit_log SET prev_hash = :p, hash = :h{key_set} WHERE id = :id"  # noqa: S608 - no input
    )
    after, prev = 0, GENESIS
    while rows := bind.execute(
        sa.text(
            "SELECT id, entry_id, actor, purpose, action, asset, subject, client_ip, device, at"
            " FROM compliance.audit_log WHERE id > :after ORDER BY id LIMIT :n"
        ),
        {"after": after, "n": PAGE},
    ).all():
        updates = []
        for row in rows:
            value = subject_of(row)
            new = _hash(row, prev, subject_field, value)
            updates.append({"id": row.id, "k": value, "p": prev, "h": new})
            prev = new
        bind.execute(update, updates)
        after = rows[-1].id
    if after:
        bind.execute(
            sa.text("UPDATE compliance.audit_chain_head SET last_id = :i, last_hash = :h"),
            {"i": after, "h": prev},
        )


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("subject_key", sa.String(64)), schema="compliance")
    settings = get_settings()
    _rehash(
        "subject_key",
        lambda row: None if row.subject is None else subject_key(row.subject, settings),
    )
    op.drop_index("ix_audit_log_subject_id", table_name="audit_log", schema="compliance")
    op.create_index(
        "ix_audit_log_subject_key_id", "audit_log", ["subject_key", "id"], schema="compliance"
    )


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject_key_id", table_name="audit_log", schema="compliance")
    op.create_index("ix_audit_log_subject_id", "audit_log", ["subject", "id"], schema="compliance")
    _rehash("subject", lambda row: row.subject)
    op.drop_column("audit_log", "subject_key", schema="compliance")
