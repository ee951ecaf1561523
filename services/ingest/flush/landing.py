"""Turning outbox rows into raw-zone rows: split common fields from the body, protect PII.

Free-text fields (every string in them, when they are objects such as Segment properties) and
any string among unknown fields are scrubbed, with the user's own known identifiers matched
exactly; structured identifiers (auth emails, names, phones, IPs; Segment identifying traits)
are replaced by keyed hashes so joins still work but the values cannot be read back.
Then `body` and `extras` are encrypted with the user's data key (crypto-shredding: erasure
destroys the key, and every copy of the text is unreadable at once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from libs.common.lake_crypto import RAW_EVENTS_COLUMNS, encrypt_values
from libs.common.pii import anonymize_value, get_scrubber
from libs.common.settings import CommonSettings
from libs.common.subjects import subject_key
from services.ingest.flush.raw_table import SCHEMA
from services.ingest.logs.schemas import COMMON_FIELDS, ENTRY_TYPES
from services.ingest.outbox.repository import PendingRow

# Structured identifiers kept as a user's known identifiers, by entity.
IDENTIFIER_KINDS = {
    "EMAIL_ADDRESS": "email",
    "PERSON": "name",
    "PHONE_NUMBER": "phone",
    "USERNAME": "name",
}


def identifiers_in(rows: Sequence[PendingRow]) -> list[tuple[str, str, str]]:
    """(user_id, kind, value) of the names, emails and phones in auth events and Segment traits."""
    found = []
    for row in rows:
        model = ENTRY_TYPES[row.service]
        if not model.IDENTIFIERS:
            continue
        payload = orjson.loads(row.payload)
        for holder, key, entity in model.identifier_slots(payload):
            kind = IDENTIFIER_KINDS.get(entity)
            value = holder[key].strip()
            if kind and value:
                found.append((row.user_id, kind, value[:320]))
    return found


@dataclass
class TextSlot:
    """Where a free-text value sits, so its scrubbed version can be put back."""

    row: int
    target: dict[str, Any]
    key: str


@dataclass
class LandingBatch:
    table: pa.Table
    pii_by_entity: Counter[str] = field(default_factory=Counter)
    rows_by_service: Counter[str] = field(default_factory=Counter)


def collect_strings(
    value: Any, row: int, holder: dict[str, Any], key: str, out: list[TextSlot]
) -> None:
    if isinstance(value, str):
        out.append(TextSlot(row, holder, key))
    elif isinstance(value, dict):
        for k, v in value.items():
            collect_strings(v, row, value, k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            collect_strings(v, row, value, i, out)  # type: ignore[arg-type]


def build_batch(
    rows: Sequence[PendingRow],
    *,
    batch_id: int,
    known: dict[str, list[str]],
    settings: CommonSettings,
    keys: Mapping[str, bytes] | None,
) -> LandingBatch:
    """The batch's rows for the raw table; `keys` (data keys by subject_key) must hold every
    row's user; None only to measure the cost of encryption (bench/crypto.py)."""
    bodies: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    texts: list[TextSlot] = []
    for i, row in enumerate(rows):
        payload = orjson.loads(row.payload)
        model = ENTRY_TYPES[row.service]
        typed = {
            k: v for k, v in payload.items() if k in model.model_fields and k not in COMMON_FIELDS
        }
        unknown = {k: v for k, v in payload.items() if k not in model.model_fields}
        first_text = len(texts)
        for name in model.FREE_TEXT:
            if isinstance(typed.get(name), str | dict | list):
                collect_strings(typed[name], i, typed, name, texts)
        for key, value in list(unknown.items()):
            collect_strings(value, i, unknown, key, texts)
        slots = model.identifier_slots(typed) if model.IDENTIFIERS else []
        if slots:
            # hashed whole, so not scrubbed as text too (a digit run in a hash is no phone)
            hashed = {(id(holder), key) for holder, key, _ in slots}
            texts[first_text:] = [
                t for t in texts[first_text:] if (id(t.target), t.key) not in hashed
            ]
            for holder, key, entity in slots:
                holder[key] = anonymize_value(holder[key], "hash", entity=entity, settings=settings)
        bodies.append(typed)
        extras.append(unknown)

    result = LandingBatch(table=pa.table({}))
    if texts:
        scrubbed = get_scrubber().scrub_many(
            [t.target[t.key] for t in texts],
            known=[known.get(rows[t.row].user_id, []) for t in texts],
        )
        findings_per_row: Counter[int] = Counter()
        for t, res in zip(texts, scrubbed, strict=True):
            t.target[t.key] = res.text
            findings_per_row[t.row] += len(res.findings)
            result.pii_by_entity.update(f.entity for f in res.findings)
    else:
        findings_per_row = Counter()

    now = datetime.now(UTC)
    subjects = {u: subject_key(u, settings) for u in {r.user_id for r in rows}}
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for i, row in enumerate(rows):
        columns["event_id"].append(row.event_id)
        columns["service"].append(row.service)
        columns["event_date"].append(row.event_time.astimezone(UTC).date())
        columns["event_type"].append(row.event_type)
        columns["user_id"].append(row.user_id)
        columns["subject_key"].append(subjects[row.user_id])
        columns["event_time"].append(row.event_time)
        columns["received_at"].append(row.received_at or now)
        columns["body"].append(orjson.dumps(bodies[i]).decode())
        columns["extras"].append(orjson.dumps(extras[i]).decode() if extras[i] else None)
        columns["pii_findings"].append(findings_per_row[i])
        columns["flush_batch"].append(batch_id)
        result.rows_by_service[row.service] += 1
    if keys is not None:
        encrypt_free_text(columns, keys)
    result.table = pa.Table.from_pydict(columns, schema=SCHEMA)
    return result


def encrypt_free_text(columns: dict[str, list[Any]], keys: Mapping[str, bytes]) -> None:
    """`body` and `extras` sealed with each row's user's key (AAD: the row's subject_key)."""
    missing = set(columns["subject_key"]) - keys.keys()
    if missing:  # a row without a key would land in clear: refuse the whole batch
        raise ValueError(f"no data key for {len(missing)} subjects of the batch")
    for name in RAW_EVENTS_COLUMNS:
        columns[name] = encrypt_values(columns[name], columns["subject_key"], keys)
