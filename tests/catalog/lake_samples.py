"""A small lake with one asset of several kinds, written the way MindLake's writers write them
(Delta tables with encrypted bodies and keyed subject columns, Parquet, JSONL.gz, JSON.gz,
model files), plus working files that are not assets."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, date, datetime

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import write_deltalake

from libs.common.crypto import PREFIX
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS, RAW_EVENTS_PARTITIONS, RAW_EVENTS_SCHEMA

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def raw_events(n: int, *, first: int = 0, service: str = "journal-service") -> pa.Table:
    ids = range(first, first + n)
    return pa.table(
        {
            "event_id": [f"e{i}" for i in ids],
            "service": [service] * n,
            "event_date": [date(2026, 12, 1)] * n,
            "event_type": ["journal.entry"] * n,
            "user_id": [f"user-{i % 3}" for i in ids],
            "subject_key": [f"{i % 3:064x}" for i in ids],
            "event_time": [NOW] * n,
            "received_at": [NOW] * n,
            "body": [f"{PREFIX}c2VhbGVk{i}" for i in ids],
            "extras": [None] * n,
            "pii_findings": pa.array([0] * n, pa.int32()),
            "flush_batch": pa.array([1] * n, pa.int64()),
        },
        schema=RAW_EVENTS_SCHEMA,
    )


def write_lake(lake: Lake) -> None:
    opts = lake.storage_options
    write_deltalake(lake.uri(RAW_EVENTS), raw_events(5), partition_by=RAW_EVENTS_PARTITIONS,
                    storage_options=opts)  # fmt: skip
    write_deltalake(lake.uri(RAW_EVENTS), raw_events(3, first=5, service="mood-service"),
                    mode="append", storage_options=opts)  # fmt: skip
    tenant = pa.table({"user_id": ["a", "b"], "item_id": ["i1", "i2"],
                       "subject_key": ["0" * 64, "1" * 64],
                       "referrer": ["<USER_ID:0123456789ab>", "<USER_ID:ba9876543210>"],
                       "rating": [4, 5]})  # fmt: skip
    write_deltalake(lake.uri("raw/tenants/acme/interactions"), tenant, storage_options=opts)
    quarantined = pa.table({"row": ["u,x,view,bad"], "reason": ["timestamp: not a time"]})
    buffer = io.BytesIO()
    pq.write_table(quarantined, buffer)
    lake.write_bytes("raw/quarantine/acme/interactions/up-1.parquet", buffer.getvalue())
    lines = [
        {"prompt": "I can't sleep.", "completion": "That sounds hard.", "quality": 0.9},
        {"prompt": "Work is a lot.", "completion": "Let's look at it.", "quality": 0.8},
    ]
    jsonl = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    lake.write_bytes("processed/training-data/ai_training_data_1_train.jsonl.gz",
                     gzip.compress(jsonl))  # fmt: skip
    lake.write_bytes("processed/training-data/ai_training_data_1.manifest.json", b"{}")
    backup = gzip.compress(orjson.dumps([{"subject_key": "ab", "purpose": "analytics"}]))
    lake.write_bytes("backups/consent_records/2026-12-01_consent_backup.json.gz", backup)
    lake.write_bytes("models/risk/risk-1/model.joblib", b"\x80model")
    lake.write_bytes("models/risk/risk-1/metrics.json", b"{}")
    lake.write_bytes("subject-requests/r-1/parts/x.json", b"{}")  # a working file, no asset
