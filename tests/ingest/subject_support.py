"""Helpers of the ingest subject-store tests: three users with words only they wrote, a
subject context, collect and erase over several stores, row counts, an encrypted raw row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import text

from libs.common.crypto import DataKeys, encrypt_text
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from libs.common.subject_rights import Collected, SubjectContext
from libs.common.subjects import subject_key
from services.ingest.config import IngestSettings
from services.ingest.flush.raw_table import SCHEMA
from services.ingest.subjects.stores import HANDLERS

NAMES = ("alice", "bob", "carol")
POSTGRES_STORES = ("ingest.outbox", "ingest.identifiers", "ingest.dead_letters")


# --- helpers ---------------------------------------------------------------------------------
def people() -> dict[str, dict[str, str]]:
    """Per user: an id, an email and a sentence only they wrote (a token the scrubber keeps)."""
    out = {}
    for name in NAMES:
        tag = uuid.uuid4().hex[:10]
        out[name] = {
            "id": f"u_{name}_{tag}",
            "email": f"{name}.{tag}@example.org",
            "phone": f"+1 415 555 {int(tag[:4], 16) % 10000:04d}",
            "token": f"zq{tag}",
            "sentence": f"the lighthouse counted zq{tag} gulls at dawn",
        }
    return out


async def context(
    settings: IngestSettings, user_id: str, *, data_key: bytes | None = None
) -> SubjectContext:
    return SubjectContext(
        request_id=uuid.uuid4(),
        kind="erasure",
        user_id=user_id,
        subject_key=subject_key(user_id, settings),
        data_key=data_key,
        settings=settings,
        lake=Lake(settings),
        engine=get_engine(),
    )


async def data_key(settings: IngestSettings, user_id: str) -> bytes:
    subject = subject_key(user_id, settings)
    async with get_engine().begin() as conn:
        return (await DataKeys(settings).for_subjects(conn, [subject], create=True))[subject]


async def collect(ctx: SubjectContext, stores: tuple[str, ...]) -> dict[str, Collected]:
    return {s: await HANDLERS[s].collect(ctx) for s in stores}


async def erase(ctx: SubjectContext, stores: tuple[str, ...]) -> dict[str, dict[str, int]]:
    return {s: await HANDLERS[s].erase(ctx) for s in stores}


async def count(sql: str, **params: Any) -> int:
    async with get_engine().connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def postgres_rows(user_id: str) -> dict[str, int]:
    return {
        "outbox": await count("SELECT count(*) FROM ingest.outbox WHERE user_id = :u", u=user_id),
        "identifiers": await count(
            "SELECT count(*) FROM ingest.user_identifiers WHERE user_id = :u", u=user_id
        ),
        "dead_letters": await count(
            "SELECT count(*) FROM ingest.dead_letters WHERE payload::text LIKE :p",
            p=f"%{user_id}%",
        ),
    }


def raw_rows(settings: IngestSettings) -> list[dict[str, Any]]:
    table = Lake(settings).delta_table(RAW_EVENTS)
    return [] if table is None else table.to_pyarrow_table().to_pylist()


def encrypted_row(settings: IngestSettings, user_id: str, key: bytes, body: dict[str, Any]) -> Any:
    """A raw row as the flush writes it once body and extras are encrypted."""
    subject = subject_key(user_id, settings)
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "event_id": f"enc-{uuid.uuid4().hex}",
                "service": "journal-service",
                "event_date": now.date(),
                "event_type": "log",
                "user_id": user_id,
                "subject_key": subject,
                "event_time": now,
                "received_at": now,
                "body": encrypt_text(key, orjson.dumps(body).decode(), subject),
                "extras": encrypt_text(key, orjson.dumps({"device": "pixel"}).decode(), subject),
                "pii_findings": 0,
                "flush_batch": 0,
            }
        ],
        schema=SCHEMA,
    )
