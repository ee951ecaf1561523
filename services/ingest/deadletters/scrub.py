"""Scrubbing dead letters' payloads of PII, in the worker (NER is too slow for the API).

Every string value is scrubbed like free text in the lake (the user's known identifiers
matched exactly), except the fields a replay needs as they are; structured identifiers
(email, name, phone, IP) are replaced whole by keyed hashes. Raw payloads (a CSV line) are
scrubbed as one text. The reason is scrubbed too: it may quote a client's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from libs.common.db import one_shot_engine
from libs.common.pii import anonymize_value, get_scrubber
from libs.common.settings import CommonSettings
from services.ingest.deadletters import repository as queries
from services.ingest.flush.landing import TextSlot, collect_strings
from services.ingest.logs.schemas import AuthLog
from services.ingest.outbox import repository

# Needed verbatim to replay the entry and free of personal data when valid.
KEEP = frozenset({"event_id", "service", "timestamp", "event_type"})
IDENTIFIERS = AuthLog.IDENTIFIERS  # field -> entity, for any source's entries


def scrub_rows(
    rows: Sequence[tuple[int, Any, str, str]],
    known: dict[str, list[str]],
    settings: CommonSettings,
) -> list[tuple[int, str, str]]:
    """(id, payload, reason, user_id) -> (id, scrubbed payload JSON, scrubbed reason)."""
    texts: list[TextSlot] = []
    boxes: list[dict[str, Any]] = []  # per row: {"payload": ..., "reason": ...}
    for i, (_, payload, reason, _) in enumerate(rows):
        box: dict[str, Any] = {"payload": payload, "reason": reason}
        boxes.append(box)
        texts.append(TextSlot(i, box, "reason"))
        if not isinstance(payload, dict):
            collect_strings(payload, i, box, "payload", texts)
            continue
        for key, value in payload.items():
            if key in KEEP and isinstance(value, str):
                continue
            if key in IDENTIFIERS and isinstance(value, str):
                payload[key] = anonymize_value(
                    value, "hash", entity=IDENTIFIERS[key], settings=settings
                )
                continue
            collect_strings(value, i, payload, key, texts)
    if texts:
        scrubbed = get_scrubber().scrub_many(
            [t.target[t.key] for t in texts],
            known=[known.get(rows[t.row][3], []) for t in texts],
        )
        for t, res in zip(texts, scrubbed, strict=True):
            t.target[t.key] = res.text
    return [
        (row[0], orjson.dumps(box["payload"]).decode(), str(box["reason"])[:1000])
        for row, box in zip(rows, boxes, strict=True)
    ]


async def scrub_pending(settings: CommonSettings, *, batch_rows: int = 500) -> int:
    """Scrub every unscrubbed dead letter, a batch per transaction; returns how many."""
    engine = one_shot_engine()
    done = 0
    try:
        while True:
            async with engine.begin() as conn:
                rows = await queries.claim_unscrubbed(conn, batch_rows)
                if not rows:
                    break
                known = await repository.identifiers_for(conn, sorted({r[3] for r in rows}))
                await queries.save_scrubbed(conn, scrub_rows(rows, known, settings))
                done += len(rows)
            if len(rows) < batch_rows:
                break
    finally:
        await engine.dispose()
    return done
