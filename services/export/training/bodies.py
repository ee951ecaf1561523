"""The chat fields of decrypted event bodies, as Arrow columns.

Bodies are JSON objects, one line each (ingest writes them with orjson). The fast path
parses a whole column at once with Arrow's JSON reader, so no Python object is made per
body. A batch it cannot take (a field of another type, a line break inside a body, a body
that is not an object) goes through the per-body path instead, which keeps string values
only. Either way a field that is missing, not a string or blank comes back null, and so
does every field of a null or unreadable body.
"""

from __future__ import annotations

import io

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

FIELDS = ("prompt", "response", "intent", "conversation_id", "session_id")
SCHEMA = pa.schema([(name, pa.string()) for name in FIELDS])
_OPTIONS = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore")
# One thread: as fast here, and an export shares its worker's cores with other tasks.
_READ = pj.ReadOptions(use_threads=False)


def body_fields(bodies: pa.Array | pa.ChunkedArray) -> pa.Table:
    """One row per body, the columns of `FIELDS`."""
    if isinstance(bodies, pa.Array):
        bodies = pa.chunked_array([bodies])
    parts = []
    for chunk in pc.fill_null(bodies.cast(pa.string()), "{}").chunks:
        table = _parse_all(chunk)
        parts.append(table if table is not None else _parse_each(chunk.to_pylist()))
    table = pa.concat_tables(parts) if parts else SCHEMA.empty_table()
    return pa.table({name: _blank_as_null(table.column(name)) for name in FIELDS})


def _parse_all(bodies: pa.Array) -> pa.Table | None:
    if not len(bodies):
        return SCHEMA.empty_table()
    # A line break inside a body, or an empty body, would shift the rows: not this path.
    if pc.any(pc.match_substring_regex(bodies, r"[\r\n]|^$")).as_py():
        return None
    # Each body followed by a line break: the array's data buffer is then the NDJSON text.
    lines = pc.binary_join_element_wise(bodies, "\n", "").cast(pa.large_string())
    try:
        table = pj.read_json(io.BytesIO(_data(lines)), parse_options=_OPTIONS, read_options=_READ)
    except pa.ArrowInvalid:
        return None
    return table if table.num_rows == len(bodies) else None


def _data(lines: pa.Array) -> pa.Buffer:
    """The bytes of a large_string array's values, first to last."""
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return data.slice(int(bounds[0]), int(bounds[-1] - bounds[0]))


def _parse_each(bodies: list[str]) -> pa.Table:
    columns: dict[str, list[str | None]] = {name: [] for name in FIELDS}
    for body in bodies:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            value = {}
        for name in FIELDS:
            field = value.get(name)
            columns[name].append(field if isinstance(field, str) else None)
    return pa.table(columns, schema=SCHEMA)


def _blank_as_null(column: pa.ChunkedArray) -> pa.Array:
    column = column.combine_chunks()
    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    return pc.if_else(blank, pa.scalar(None, pa.string()), column)
