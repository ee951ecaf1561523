"""What the verification scan found, and the searches it runs over bytes and Arrow columns.

The report names needles by index, never by text. A sentence of the user's found in a row
that belongs to another subject (its `subject_key` differs) is shared content, such as a
greeting many users send: reported apart, not a trace.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from services.compliance.verification.needles import Matcher


@dataclass(frozen=True)
class HitKey:
    where: str  # lake:<path>, pg:<schema.table>, redis:<key> (needle text redacted)
    column: str | None  # a Parquet column, "(path)", "(key)"
    kind: str  # identifier | sentence | subject_key (a lake row of the erased subject)
    index: int  # the needle's index in Needles
    shared: bool  # a sentence in another subject's row


# The counters `ScanReport.merge` adds up.
_SUMMED = (
    "objects",
    "bytes",
    "parquet_rows",
    "skipped_objects",
    "pg_tables",
    "pg_rows",
    "redis_keys",
    "undecryptable",
)


@dataclass
class ScanReport:
    objects: int = 0
    bytes: int = 0
    parquet_rows: int = 0
    skipped_objects: int = 0
    pg_tables: int = 0
    pg_rows: int = 0
    redis_keys: int = 0
    undecryptable: int = 0
    seconds: float = 0.0
    needles: dict[str, int] = field(default_factory=dict)
    counts: dict[HitKey, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)  # places that could not be searched

    @property
    def hits(self) -> list[tuple[HitKey, int]]:
        return sorted(self.counts.items(), key=lambda kv: (kv[0].where, str(kv[0].column)))

    @property
    def traces(self) -> list[tuple[HitKey, int]]:
        """The hits that count: anything of the user's but shared sentences. A sentence found
        in another subject's row is not theirs alone, so none of its hits count, also where a
        copy names no one (a training export's line, a report)."""
        shared = set(self.shared_sentences)
        return [
            (k, n)
            for k, n in self.hits
            if not k.shared and not (k.kind == "sentence" and k.index in shared)
        ]

    @property
    def shared_sentences(self) -> list[int]:
        return sorted({k.index for k in self.counts if k.shared})

    @property
    def clean(self) -> bool:
        return not self.traces and not self.errors

    def merge(self, other: ScanReport) -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, n in other.counts.items():
            self.counts[key] += n
        self.errors += other.errors

    def to_dict(self) -> dict[str, Any]:
        def hit(key: HitKey, n: int) -> dict[str, Any]:
            return {"where": key.where, "column": key.column, "kind": key.kind,
                    "needle": key.index, "count": n}  # fmt: skip

        return {
            "clean": self.clean,
            "needles": self.needles,
            "scanned": {
                "lake_objects": self.objects,
                "lake_bytes": self.bytes,
                "parquet_rows": self.parquet_rows,
                "skipped_objects": self.skipped_objects,
                "pg_tables": self.pg_tables,
                "pg_rows": self.pg_rows,
                "redis_keys": self.redis_keys,
            },
            "undecryptable_values": self.undecryptable,
            "traces": [hit(k, n) for k, n in self.traces],
            "shared": [hit(k, n) for k, n in self.hits if k.shared],
            "shared_sentences": self.shared_sentences,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


def search_bytes(
    matcher: Matcher, report: ScanReport, where: str, data: bytes, column: str | None = None
) -> None:
    """Hits in a blob without rows (JSON, CSV, a log, a Redis value): each occurrence counts."""
    for m in matcher.find(data.lower()):
        report.counts[HitKey(where, column, m.form.kind, m.form.index, False)] += 1


def search_column(
    matcher: Matcher, values: pa.Array, subjects: pa.Array | None, own: str
) -> dict[tuple[str, int, bool], int]:
    """Rows of a string column holding each needle, by (kind, index, shared). The column's
    values sit end to end in one buffer: one search over it, then matches mapped to rows."""
    lowered = pc.ascii_lower(values)
    buffers = lowered.buffers()
    if len(lowered) == 0 or buffers[2] is None:
        return {}
    width = np.int64 if pa.types.is_large_string(lowered.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=width)[
        lowered.offset : lowered.offset + len(lowered) + 1
    ]
    data = memoryview(buffers[2]).cast("B")[: int(offsets[-1])]
    seen: set[tuple[int, str, int]] = set()
    for m in matcher.find(data, tokens=False):
        row = int(np.searchsorted(offsets, m.start, side="right")) - 1
        if row < 0 or row >= len(lowered):
            continue
        lo, hi = int(offsets[row]), int(offsets[row + 1])
        if m.end > hi:
            continue  # runs into the next value
        if m.form.kind == "identifier" and not matcher.is_token(data, m.start, m.end, lo, hi):
            continue
        seen.add((row, m.form.kind, m.form.index))
    counts: dict[tuple[str, int, bool], int] = defaultdict(int)
    for row, kind, index in seen:
        subject = subjects[row].as_py() if subjects is not None else None
        counts[(kind, index, kind == "sentence" and bool(subject) and subject != own)] += 1
    return counts


def as_text(column: pa.Array) -> pa.Array | None:
    """A column as plain strings to search, or None when it can hold no needle."""
    t = column.type
    if pa.types.is_dictionary(t):
        return as_text(column.cast(t.value_type))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column
    if pa.types.is_string_view(t):
        return column.cast(pa.large_string())
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        return column.cast(pa.binary()).view(pa.string())
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return column.cast(pa.large_binary()).view(pa.large_string())
    if pa.types.is_integer(t):
        return column.cast(pa.string())  # a phone number kept as a number
    if pa.types.is_nested(t):
        # Delta checkpoints' actions: each row as JSON text
        rows = [
            None if v is None else orjson.dumps(v, default=str).decode() for v in column.to_pylist()
        ]
        return pa.array(rows, pa.large_string())
    return None
