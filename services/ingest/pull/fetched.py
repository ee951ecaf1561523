"""What a source hands the runner, and how positions are stored as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


class SourceFailed(Exception):
    """A source could not be read. The message is safe to store and log: it never carries a
    DSN, a header, a record or a driver message (those can hold secrets or personal data)."""


@dataclass
class Fetched:
    records: list[dict[str, Any]] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)  # per record: where it came from
    cursor: dict[str, Any] | None = None  # the new position; None = unchanged
    files: list[str] = field(default_factory=list)  # files taken by this run


def encode_cursor(value: Any) -> dict[str, Any]:
    """A typed position, so a Postgres cursor comes back as the type its column compares to."""
    if isinstance(value, bool) or value is None:
        return {"t": "json", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": value}
    if isinstance(value, datetime):
        return {"t": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"t": "date", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {"t": "decimal", "v": str(value)}
    if isinstance(value, float):
        return {"t": "float", "v": value}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    return {"t": "json", "v": value}


def decode_cursor(cursor: dict[str, Any] | None) -> Any:
    if not cursor:
        return None
    kind, value = cursor.get("t"), cursor.get("v")
    if kind == "datetime":
        return datetime.fromisoformat(str(value))
    if kind == "date":
        return date.fromisoformat(str(value))
    if kind == "decimal":
        return Decimal(str(value))
    return value
