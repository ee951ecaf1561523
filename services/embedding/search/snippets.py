"""Snippets read from the lake at query time: the event's body decrypted with its user's key,
its document, the chunk's characters. Null when unreadable (erased key, deleted event)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.crypto import DataKeys
from libs.common.lake import Lake, read_delta
from libs.common.lake_crypto import decrypt_table, keys_for
from libs.common.lake_tables import RAW_EVENTS
from libs.common.settings import CommonSettings
from services.embedding.text.sources import document

COLUMNS = ["event_id", "service", "subject_key", "body"]


def read_rows(lake: Lake, payloads: list[dict[str, Any]]) -> pa.Table | None:
    table = lake.delta_table(RAW_EVENTS)
    if table is None or not payloads:
        return None
    parts = None
    for service, day in {(p["service"], p["event_date"]) for p in payloads}:
        cond = (pc.field("service") == service) & (
            pc.field("event_date") == pa.scalar(date.fromisoformat(day), pa.date32())
        )
        parts = cond if parts is None else parts | cond
    ids = pa.array(sorted({p["event_id"] for p in payloads}), pa.string())
    return read_delta(table, COLUMNS, pc.field("event_id").isin(ids), partitions=parts)


async def snippets(
    engine: AsyncEngine, lake: Lake, settings: CommonSettings, payloads: list[dict[str, Any]]
) -> list[str | None]:
    import anyio

    rows = await anyio.to_thread.run_sync(read_rows, lake, payloads)
    if rows is None or rows.num_rows == 0:
        return [None] * len(payloads)
    async with engine.connect() as conn:
        keys = await keys_for(conn, rows, DataKeys(settings))
    plain = decrypt_table(rows, keys, ["body"])
    docs = {
        (r["event_id"], r["subject_key"]): document(r["service"], r["body"])
        for r in plain.to_pylist()
    }
    out: list[str | None] = []
    for p in payloads:
        doc = docs.get((p["event_id"], p["subject_key"]))
        out.append(None if doc is None else doc[p["chunk_start"] : p["chunk_end"]])
    return out
