"""Lake tables that more than one service reads: their paths and schemas, in one place.

The ingest service writes all of these (flush, CSV upload, pull jobs); export reads
`raw/events` and the tenant tables, compliance's retention and erasure scan read them all.
Ingest maintains this module: a change to a table's path or columns is made here, and every
reader follows from it. The same goes for `pull_job_id`, the one read of ingest's Postgres
schema that others need (a pulled table's lock is keyed by its job's id).
"""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

RAW_EVENTS = "raw/events"  # one Delta table of every log entry, partitioned as below
RAW_EVENTS_PARTITIONS = ["service", "event_date"]
RAW_EVENTS_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("service", pa.string(), nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        # Keyed hash of user_id: erasure deletes by it, so no raw id enters the table log.
        pa.field("subject_key", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("body", pa.string(), nullable=False),  # JSON of the typed fields, PII scrubbed
        pa.field("extras", pa.string(), nullable=True),  # JSON of unknown fields, PII scrubbed
        pa.field("pii_findings", pa.int32(), nullable=False),
        pa.field("flush_batch", pa.int64(), nullable=False),
    ]
)

TENANTS = "raw/tenants"  # CSV uploads: <tenant>/<data_type> Delta tables
PULLED = "raw/pulled"  # pull jobs: one Delta table per job, <job_name>
QUARANTINE = "raw/quarantine"  # rejected CSV rows: <tenant>/<data_type>/<upload>.parquet


def tenant_table(tenant: str, data_type: str) -> str:
    return f"{TENANTS}/{tenant}/{data_type}"


def pulled_table(job_name: str) -> str:
    return f"{PULLED}/{job_name}"


def quarantine_file(tenant: str, data_type: str, upload_id: str) -> str:
    return f"{QUARANTINE}/{tenant}/{data_type}/{upload_id}.parquet"


async def pull_job_id(conn: AsyncConnection, job_name: str) -> int | None:
    """The id of the pull job writing `raw/pulled/<job_name>` (its lock is keyed by it).

    Reads ingest's `ingest.pull_jobs` (`id`, unique `name`), so that erasure and retention
    find a pulled table's lock without importing ingest."""
    job_id = await conn.scalar(
        text("SELECT id FROM ingest.pull_jobs WHERE name = :n"), {"n": job_name}
    )
    return None if job_id is None else int(job_id)
