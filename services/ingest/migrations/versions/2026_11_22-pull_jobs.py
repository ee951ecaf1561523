"""pull jobs: pull_jobs, pull_runs, pull_files

Revision ID: ingest_0006
Revises: ingest_0003
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "ingest_0006"
down_revision: str | None = "ingest_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "pull_jobs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", JSONB(), nullable=False),
        sa.Column("schedule", JSONB(), nullable=False),
        sa.Column("landing", JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("max_errors", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("cursor", JSONB(), nullable=True),
        sa.Column("last_landed_run", sa.String(32), nullable=True),
        sa.Column("lake_version", sa.BigInteger(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pull_jobs"),
        sa.UniqueConstraint("name", name="uq_pull_jobs_name"),
        schema=S,
    )
    op.create_index("ix_pull_jobs_due", "pull_jobs", ["next_run_at"], schema=S,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "pull_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("files", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lake_version", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], [f"{S}.pull_jobs.id"], ondelete="CASCADE",
                                name="fk_pull_runs_job_id_pull_jobs"),
        sa.PrimaryKeyConstraint("id", name="pk_pull_runs"),
        schema=S,
    )
    op.create_index("ix_pull_runs_job_id", "pull_runs", ["job_id", "started_at"], schema=S)
    op.create_table(
        "pull_files",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["job_id"], [f"{S}.pull_jobs.id"], ondelete="CASCADE",
                                name="fk_pull_files_job_id_pull_jobs"),
        sa.PrimaryKeyConstraint("job_id", "path", name="pk_pull_files"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("pull_files", schema=S)
    op.drop_index("ix_pull_runs_job_id", table_name="pull_runs", schema=S)
    op.drop_table("pull_runs", schema=S)
    op.drop_index("ix_pull_jobs_due", table_name="pull_jobs", schema=S)
    op.drop_table("pull_jobs", schema=S)
