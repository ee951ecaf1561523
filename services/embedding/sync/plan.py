"""From raw rows to the chunks to embed: consent first, then decryption, documents, chunks.

Consent (`personalization`, at the time of the run) is checked before anything is
decrypted, so a non-consenting user's text is never opened. A body whose user's key is gone
(erased) decrypts to null and yields no document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.consent import query_allowed
from libs.common.contracts import ConsentPurpose
from libs.common.crypto import DataKeys
from libs.common.lake_crypto import decrypt_table, keys_for
from services.embedding.backends.base import Embedder
from services.embedding.config import EmbeddingSettings
from services.embedding.text.chunking import chunk
from services.embedding.text.sources import document
from services.embedding.vectors.points import PointPayload, point_id


@dataclass(frozen=True)
class Planned:
    id: str
    text: str
    payload: PointPayload
    user_id: str  # for the consent re-check after the upsert; never stored in Qdrant


async def consented(engine: AsyncEngine, rows: pa.Table, counts: Counter[str]) -> pa.Table:
    """The rows of users who grant `personalization` now."""
    if rows.num_rows == 0:
        return rows
    users = sorted(set(pc.unique(rows.column("user_id")).to_pylist()))
    async with engine.connect() as conn:
        allowed = await query_allowed(conn, users, ConsentPurpose.PERSONALIZATION)
    keep = pc.is_in(rows.column("user_id"), pa.array(sorted(allowed), pa.string()))
    kept = rows.filter(keep)
    counts["no_consent"] += rows.num_rows - kept.num_rows
    return kept


async def decrypted(engine: AsyncEngine, rows: pa.Table, settings: EmbeddingSettings) -> pa.Table:
    async with engine.connect() as conn:
        keys = await keys_for(conn, rows, DataKeys(settings))
    return decrypt_table(rows, keys, ["body"])


def plan(
    rows: pa.Table,
    source: str,
    embedder: Embedder,
    settings: EmbeddingSettings,
    counts: Counter[str],
) -> list[Planned]:
    """Every chunk of every row's document. `rows` are decrypted and carry `event_date`."""
    info = embedder.info
    now = datetime.now(UTC)
    size = min(settings.embedding_chunk_tokens, info.max_tokens - 2)  # room for [CLS] [SEP]
    overlap = min(settings.embedding_chunk_overlap, size - 1)
    out: list[Planned] = []
    columns = ["event_id", "user_id", "subject_key", "event_time", "event_date", "body"]
    documents = []
    for row in rows.select(columns).to_pylist():
        text = document(source, row["body"])
        if text is None:
            counts["no_text"] += 1
        else:
            documents.append((row, text))
    spans = embedder.token_spans_many([text for _, text in documents])
    for (row, text), tokens in zip(documents, spans, strict=True):
        chunks = chunk(text, tokens, size=size, overlap=overlap)
        day = row["event_date"]
        for c in chunks:
            payload = PointPayload(
                subject_key=row["subject_key"],
                event_id=row["event_id"],
                service=source,
                event_date=day if isinstance(day, date) else date.fromisoformat(str(day)),
                event_time=row["event_time"],
                chunk_index=c.index,
                chunk_start=c.start,
                chunk_end=c.end,
                chunks=len(chunks),
                model=info.name,
                model_version=info.version,
                embedded_at=now,
            )
            pid = point_id(source, row["event_id"], c.index)
            out.append(Planned(pid, c.text, payload, row["user_id"]))
        counts["documents"] += 1
    return out
