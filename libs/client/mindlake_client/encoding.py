"""Entries to wire bytes: ids and timestamps filled in, JSON once at log time, batch bodies, gzip.

An entry is encoded when it is logged, so the buffer holds immutable bytes of a known size
(the caller may reuse its dict) and a non-serializable entry fails in the caller, not later.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from mindlake_client.entries import LogEntry
from mindlake_client.errors import EntryTooLarge, InvalidEntry

BODY_OPEN = b'{"entries":['
BODY_CLOSE = b"]}"
BODY_OVERHEAD = len(BODY_OPEN) + len(BODY_CLOSE)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact; the API parses numeric strings
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def as_dict(entry: LogEntry | Mapping[str, Any]) -> dict[str, Any]:
    """A fresh dict of the entry (the caller's object is never changed)."""
    if isinstance(entry, LogEntry):
        return entry.to_dict()
    if isinstance(entry, Mapping):
        return dict(entry)
    raise InvalidEntry(
        f"an entry is a dict or a mindlake_client entry type, not {type(entry).__name__}"
    )


def encode_entry(entry: LogEntry | Mapping[str, Any], max_bytes: int) -> tuple[str, bytes]:
    """(event_id, compact JSON). Sets a uuid4 `event_id` (so a resend dedups server-side) and
    the current time as `timestamp` when they are missing."""
    data = as_dict(entry)
    event_id = data.get("event_id")
    if not event_id:
        event_id = str(uuid.uuid4())
        data["event_id"] = event_id
    if not data.get("timestamp"):
        data["timestamp"] = datetime.now(UTC).isoformat()
    try:
        raw = json.dumps(
            data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
        ).encode()
    except (TypeError, ValueError) as exc:  # the messages name types, never values
        raise InvalidEntry(f"the entry cannot be sent as JSON: {exc}") from exc
    if len(raw) > max_bytes:
        raise EntryTooLarge(
            f"the entry {event_id!s} is {len(raw):,} bytes; the limit is {max_bytes:,} bytes "
            "an entry: it was not sent"
        )
    return str(event_id), raw


def body_of(entries: Sequence[bytes]) -> bytes:
    return BODY_OPEN + b",".join(entries) + BODY_CLOSE


def body_size(entries: Sequence[bytes]) -> int:
    return BODY_OVERHEAD + sum(len(e) for e in entries) + max(len(entries) - 1, 0)


def request_body(entries: Sequence[bytes], compress: bool) -> bytes:
    """The POST body; CPU-bound for large batches, so callers run it off the event loop."""
    body = body_of(entries)
    # level 5: most of level 9's ratio on JSON at a fraction of the CPU; mtime=0: reproducible
    return gzip.compress(body, compresslevel=5, mtime=0) if compress else body


def entry_meta(raw: bytes) -> tuple[str | None, str | None]:
    """(event_id, service) of an encoded entry, for rejection reports."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    event_id, service = data.get("event_id"), data.get("service")
    return (
        str(event_id) if event_id is not None else None,
        str(service) if service is not None else None,
    )


def split_batches(
    entries: Sequence[bytes], max_entries: int, max_body_bytes: int
) -> list[list[bytes]]:
    """Cut entries, in order, into request-sized batches."""
    batches: list[list[bytes]] = []
    current: list[bytes] = []
    size = BODY_OVERHEAD
    for item in entries:
        extra = len(item) + (1 if current else 0)
        if current and (len(current) >= max_entries or size + extra > max_body_bytes):
            batches.append(current)
            current, size, extra = [], BODY_OVERHEAD, len(item)
        current.append(item)
        size += extra
    if current:
        batches.append(current)
    return batches
