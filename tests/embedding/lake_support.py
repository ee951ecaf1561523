"""Helpers of the embedding tests: events landed in raw/events as the flush writes them
(bodies encrypted with each user's data key), consent in the ledger, settings of a test lake
and a Qdrant folder of the test's own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import text

from libs.common.crypto import DataKeys
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_crypto import encrypt_values
from libs.common.settings import CommonSettings
from libs.common.subjects import subject_key
from services.embedding.config import EmbeddingSettings
from services.ingest.flush.raw_table import SCHEMA, RawEventsTable

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def embedding_settings(lake_settings: Any, qdrant_dir: Path, **overrides: Any) -> EmbeddingSettings:
    common = {k: getattr(lake_settings, k) for k in CommonSettings.model_fields}
    return EmbeddingSettings(**{**common, "qdrant_path": str(qdrant_dir), **overrides})


@dataclass
class Events:
    """Events to land: (user, service, time, body)."""

    settings: Any
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    rows: list[tuple[str, str, datetime, dict[str, Any]]] = field(default_factory=list)
    landed: list[str] = field(default_factory=list)  # event ids, in order

    def user(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def add(self, user: str, service: str, **body: Any) -> None:
        at = T0 + timedelta(seconds=len(self.rows) + len(self.landed))
        self.rows.append((user, service, at, body))

    async def land(self) -> list[str]:
        """Append the pending rows to raw/events in one commit; their event ids."""
        rows, self.rows = self.rows, []
        subjects = [subject_key(u, self.settings) for u, _, _, _ in rows]
        async with get_engine().begin() as conn:
            keys = await DataKeys(self.settings).for_subjects(conn, subjects, create=True)
        start = len(self.landed)
        ids = [f"evt-{self.tag}-{start + i:04d}" for i in range(len(rows))]
        now = datetime.now(UTC)
        bodies = [orjson.dumps(b).decode() for *_, b in rows]
        table = pa.table(
            {
                "event_id": ids,
                "service": [s for _, s, _, _ in rows],
                "event_date": [at.date() for _, _, at, _ in rows],
                "event_type": ["entry"] * len(rows),
                "user_id": [u for u, _, _, _ in rows],
                "subject_key": subjects,
                "event_time": [at for _, _, at, _ in rows],
                "received_at": [now] * len(rows),
                "body": encrypt_values(bodies, subjects, keys),
                "extras": pa.nulls(len(rows), pa.string()),
                "pii_findings": pa.array([0] * len(rows), pa.int32()),
                "flush_batch": pa.array([1] * len(rows), pa.int64()),
            }
        )
        RawEventsTable(Lake(self.settings)).append(table.cast(SCHEMA), token=uuid.uuid4().hex)
        self.landed += ids
        return ids


async def set_consent(users: dict[str, bool], purpose: str = "personalization") -> None:
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis, "
                "policy_version, source, actor_key_id, recorded_at) "
                "SELECT u, :p, g, 'explicit_consent', '2026-11', 'import', 'test', "
                "clock_timestamp() FROM unnest(CAST(:u AS text[]), CAST(:g AS boolean[])) "
                "WITH ORDINALITY AS t(u, g, n) ORDER BY n"
            ),
            {"u": list(users), "g": list(users.values()), "p": purpose},
        )


async def erase_key(settings: Any, user: str) -> str:
    """What an erasure does first: the user's data key destroyed, a tombstone written."""
    key = subject_key(user, settings)
    async with get_engine().begin() as conn:
        await DataKeys(settings).destroy(conn, key)
        await conn.execute(
            text(
                "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
                " VALUES (:k, :r, now()) ON CONFLICT DO NOTHING"
            ),
            {"k": key, "r": str(uuid.uuid4())},
        )
    return key
