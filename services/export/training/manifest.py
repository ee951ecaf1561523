"""The manifest of a training export: everything needed to rebuild the same files.

Given the same raw/events table version, consent state as of `consent_snapshot_at`, PII
policy, code versions (quality, crisis list, dedupe, split, tags) and filters, the pipeline
writes the same bytes; `files[*].sha256` says whether a rebuild matched. No user id and no
subject_key appear here (lineage lives in the export service's database).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import orjson

from libs.common import lake_tables
from services.export.training import crisis, dedupe, quality, split, tags, writer

MANIFEST_VERSION = 1
RAW_EVENTS = lake_tables.RAW_EVENTS


def schema_hash() -> str:
    """Hash of the JSONL record layout and the Parquet schema: changes when consumers must."""
    layout = orjson.dumps(writer.JSONL_SCHEMA, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(layout + writer.PARQUET_SCHEMA.to_string().encode()).hexdigest()


def build(
    *,
    export_id: str,
    created_at: datetime,
    start: date,
    end: date,
    services: list[str],
    min_quality: float,
    validation_ratio: float,
    formats: tuple[str, ...],
    raw_events_version: int | None,
    consent_snapshot_at: datetime | None,
    pii_policy: dict[str, Any],
    counts: dict[str, Any],
    files: dict[str, writer.Written],
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": "ai_training",
        "export_id": export_id,
        "revision": 1,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "time_range": {"start": start.isoformat(), "end": end.isoformat(), "inclusive": True},
        "services": sorted(services),
        "filters": {
            "consent_purpose": "ai_training",
            "min_quality": min_quality,
            "validation_ratio": validation_ratio,
            "formats": list(formats),
            "quality": quality.QUALITY_VERSION,
            "crisis_list": crisis.CRISIS_LIST_VERSION,
            "dedupe": {
                "version": dedupe.DEDUPE_VERSION,
                "num_perm": dedupe.NUM_PERM,
                "seed": dedupe.SEED,
                "shingle_words": dedupe.SHINGLE_WORDS,
                "threshold": dedupe.DEFAULT_THRESHOLD,
            },
            "split": split.SPLIT_VERSION,
            "tags": tags.TAGS_VERSION,
        },
        "source_tables": {
            RAW_EVENTS: {
                "version": raw_events_version,
                "partitions": {
                    "service": sorted(services),
                    "event_date": [start.isoformat(), end.isoformat()],
                },
            }
        },
        "consent_snapshot_at": (
            consent_snapshot_at.astimezone(UTC).isoformat() if consent_snapshot_at else None
        ),
        "pii_policy": pii_policy,
        "schema_hash": schema_hash(),
        "schema": writer.JSONL_SCHEMA,
        "counts": counts,
        "files": {name: file_entry(w) for name, w in sorted(files.items())},
    }


def file_entry(written: writer.Written) -> dict[str, Any]:
    """A file's line in `files`: its path, records, size and checksum."""
    return {
        "path": written.path,
        "records": written.records,
        "bytes": written.bytes,
        "sha256": written.sha256,
    }


def dumps(manifest: dict[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
