"""pull_jobs: secrets (DSN, HTTP headers) sealed with a per-job key wrapped by the master key

Existing rows are encrypted here: the DSN or headers leave `source` (which keeps the redacted
form replies show) for `secrets`, sealed with a new data key that `secret_key` holds wrapped
by the configured key provider (MINDLAKE_MASTER_KEY or KMS, as at run time). The format is
services/ingest/pull/credentials.py's, copied so this revision stays as it was written.
Also the merge of the four ingest heads.

Revision ID: ingest_0009
Revises: ingest_0005, ingest_0006, ingest_0007, ingest_0008
Create Date: 2026-11-24
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from libs.common.crypto import KeyProvider, make_provider, new_key, seal, unseal
from libs.common.settings import get_settings

revision: str = "ingest_0009"
down_revision: str | Sequence[str] | None = (
    "ingest_0005",
    "ingest_0006",
    "ingest_0007",
    "ingest_0008",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "ingest"
AAD = b"mindlake-pull-job:"
MASK = "***"
JOBS = sa.table(
    "pull_jobs",
    sa.column("id", sa.BigInteger),
    sa.column("name", sa.String),
    sa.column("source", JSONB),
    sa.column("secret_key", sa.LargeBinary),
    sa.column("secrets", sa.LargeBinary),
    schema=S,
)


def upgrade() -> None:
    op.add_column("pull_jobs", sa.Column("secret_key", sa.LargeBinary(), nullable=True), schema=S)
    op.add_column("pull_jobs", sa.Column("secrets", sa.LargeBinary(), nullable=True), schema=S)
    seal_rows(op.get_bind(), make_provider(get_settings()))


def downgrade() -> None:
    reveal_rows(op.get_bind(), make_provider(get_settings()))
    op.drop_column("pull_jobs", "secrets", schema=S)
    op.drop_column("pull_jobs", "secret_key", schema=S)


def seal_rows(conn: Connection, provider: KeyProvider) -> int:
    """Move the clear secrets of every row that has not been sealed yet; the rows sealed."""
    rows = conn.execute(
        sa.select(JOBS.c.id, JOBS.c.name, JOBS.c.source).where(JOBS.c.secrets.is_(None))
    )
    sealed = 0
    for job_id, name, source in rows.all():
        shown, secrets = _split(dict(source or {}))
        if not secrets:
            continue
        key = new_key()
        conn.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == job_id)
            .values(
                source=shown,
                secret_key=provider.wrap(key),
                secrets=seal(key, orjson.dumps(secrets), AAD + name.encode()),
            )
        )
        sealed += 1
    return sealed


def reveal_rows(conn: Connection, provider: KeyProvider) -> None:
    """Put the secrets back in `source` (the downgrade)."""
    rows = conn.execute(
        sa.select(JOBS.c.id, JOBS.c.name, JOBS.c.source, JOBS.c.secret_key, JOBS.c.secrets).where(
            JOBS.c.secrets.is_not(None)
        )
    )
    for job_id, name, source, wrapped, sealed in rows.all():
        key = provider.unwrap(bytes(wrapped))
        secrets = orjson.loads(unseal(key, bytes(sealed), AAD + name.encode()))
        conn.execute(
            sa.update(JOBS).where(JOBS.c.id == job_id).values(source={**source, **secrets})
        )


def _split(source: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    secrets: dict[str, Any] = {}
    dsn = source.get("dsn")
    if isinstance(dsn, str) and not dsn.split("://", 1)[-1].startswith(MASK + "@"):
        secrets["dsn"] = dsn
        parts = urlsplit(dsn)
        source["dsn"] = f"{parts.scheme}://{MASK}@{parts.netloc.rpartition('@')[2]}{parts.path}"
    headers = source.get("headers")
    if isinstance(headers, dict) and any(v != MASK for v in headers.values()):
        secrets["headers"] = headers
        source["headers"] = dict.fromkeys(headers, MASK)
    return source, secrets
