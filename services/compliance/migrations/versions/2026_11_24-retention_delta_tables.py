"""retention of the other raw Delta tables (tenant CSV tables, pulled tables); merges the heads

Revision ID: compliance_0004
Revises: compliance_0002, compliance_0003
Create Date: 2026-11-24

Until now only `raw/events` had a policy: the tenant CSV tables and the pull jobs' tables
were kept forever. A new target kind, `delta_tables`, covers every Delta table under a
prefix (found by its `_delta_log`), each aged by its date: the table's own date partition
column when `date_column` is null (tenant interactions: `event_date`; tenant items have no
date partition, they are a catalogue, and are skipped and reported), else the named column
(pulled tables are not partitioned: `pulled_at`, when the row landed). Both default to 365
days, the source documents' default for raw data (Team Eta's retention table). The CSV
quarantine files (rejected rows, kept for review and replay) get an object policy of 90
days, like logs.

Also the merge of the two heads (compliance_0002, audit subject key; compliance_0003,
retention), so the schema has one head again.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "compliance_0004"
down_revision: str | Sequence[str] | None = ("compliance_0002", "compliance_0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = op.f("ck_retention_policies_target_kind")  # op.f: the name as it is, no convention prefix
# zone, data_type, days, target_kind, target, date_column, keep_latest
DEFAULTS = (
    ("raw", "tenant-interactions", 365, "delta_tables", "raw/tenants/", None, 0),
    ("raw", "pulled", 365, "delta_tables", "raw/pulled/", "pulled_at", 0),
    ("raw", "quarantine", 90, "objects", "raw/quarantine/", None, 0),
)
POLICIES = sa.table(
    "retention_policies",
    sa.column("zone", sa.String),
    sa.column("data_type", sa.String),
    sa.column("retention_days", sa.Integer),
    sa.column("target_kind", sa.String),
    sa.column("target", sa.String),
    sa.column("date_column", sa.String),
    sa.column("keep_latest", sa.Integer),
    sa.column("updated_by", sa.String),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    schema="compliance",
)


def upgrade() -> None:
    op.drop_constraint(CHECK, "retention_policies", type_="check", schema="compliance")
    op.create_check_constraint(
        CHECK,
        "retention_policies",
        "target_kind IN ('delta', 'delta_tables', 'objects')",
        schema="compliance",
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        POLICIES,
        [
            {
                "zone": zone,
                "data_type": data_type,
                "retention_days": days,
                "target_kind": kind,
                "target": target,
                "date_column": date_column,
                "keep_latest": keep_latest,
                "updated_by": "default",
                "updated_at": now,
            }
            for zone, data_type, days, kind, target, date_column, keep_latest in DEFAULTS
        ],
    )


def downgrade() -> None:
    for zone, data_type, *_ in DEFAULTS:
        op.execute(
            POLICIES.delete().where(POLICIES.c.zone == zone, POLICIES.c.data_type == data_type)
        )
    op.drop_constraint(CHECK, "retention_policies", type_="check", schema="compliance")
    op.create_check_constraint(
        CHECK, "retention_policies", "target_kind IN ('delta', 'objects')", schema="compliance"
    )
