"""Turning outbox rows into raw-zone rows: split common fields from the body, protect PII.

Free-text fields (and any string among unknown fields) are scrubbed, with the user's own known
identifiers matched exactly; structured identifiers (auth emails, names, phones, IPs) are
replaced by keyed hashes so joins still work but the values cannot be read back.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from libs.common.pii import anonymize_value, get_scrubber

from libs.common.settings import CommonSettings
from services.ingest.raw_table import SCHEMA
from services.ingest.repository import PendingRow
from services.ingest.schemas import COMMON_FIELDS, ENTRY_TYPES, AuthLog

IDENTIFIER_KINDS = {"email": "email", "name": "name", "phone": "phone"}


def subject_key(user_id: str, settings: CommonSettings) -> str:
    key = settings.pii_hmac_key.get_secret_value().encode()
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:32]


def identifiers_in(rows: Sequence[PendingRow]) -> list[tuple[str, str, str]]:
    """(user_id, kind, value) of the name, email and phone in auth events."""
    found = []
    for row in rows:
        if row.service != "auth-service":
            continue
        payload = orjson.loads(row.payload)
        for name, kind in IDENTIFIER_KINDS.items():
            value = payload.get(name)
            if isinstance(value, str) and value.strip():
                found.append((row.user_id, kind, value.strip()[:320]))
    return found


@dataclass
class _Text:
    """Where a free-text value sits, so its scrubbed version can be put back."""

    row: int
    target: dict[str, Any]
    key: str


@dataclass
class LandingBatch:
    table: pa.Table
    pii_by_entity: Counter[str] = field(default_factory=Counter)
    rows_by_service: Counter[str] = field(default_factory=Counter)


def _collect_strings(
    value: Any, row: int, holder: dict[str, Any], key: str, out: list[_Text]
) -> None:
    if isinstance(value, str):
        out.append(_Text(row, holder, key))
    elif isinstance(value, dict):
        for k, v in value.items():
            _collect_strings(v, row, value, k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _collect_strings(v, row, value, i, out)  # type: ignore[arg-type]


def build_batch(
    rows: Sequence[PendingRow],
    *,
    batch_id: int,
    known: dict[str, list[str]],
    settings: CommonSettings,
) -> LandingBatch:
    bodies: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    texts: list[_Text] = []
    for i, row in enumerate(rows):
        payload = orjson.loads(row.payload)
        model = ENTRY_TYPES[row.service]
        typed = {
            k: v for k, v in payload.items() if k in model.model_fields and k not in COMMON_FIELDS
        }
        unknown = {k: v for k, v in payload.items() if k not in model.model_fields}
        for name in model.FREE_TEXT:
            if isinstance(typed.get(name), str):
                texts.append(_Text(i, typed, name))
        for name, entity in AuthLog.IDENTIFIERS.items() if model is AuthLog else ():
            if isinstance(typed.get(name), str):
                typed[name] = anonymize_value(typed[name], "hash", entity=entity, settings=settings)
        for key, value in list(unknown.items()):
            _collect_strings(value, i, unknown, key, texts)
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
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for i, row in enumerate(rows):
        columns["event_id"].append(row.event_id)
        columns["service"].append(row.service)
        columns["event_date"].append(row.event_time.astimezone(UTC).date())
        columns["event_type"].append(row.event_type)
        columns["user_id"].append(row.user_id)
        columns["subject_key"].append(subject_key(row.user_id, settings))
        columns["event_time"].append(row.event_time)
        columns["received_at"].append(row.received_at or now)
        columns["body"].append(orjson.dumps(bodies[i]).decode())
        columns["extras"].append(orjson.dumps(extras[i]).decode() if extras[i] else None)
        columns["pii_findings"].append(findings_per_row[i])
        columns["flush_batch"].append(batch_id)
        result.rows_by_service[row.service] += 1
    result.table = pa.Table.from_pydict(columns, schema=SCHEMA)
    return result
