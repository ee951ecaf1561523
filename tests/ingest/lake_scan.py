"""Reading back everything under a lake root: every object's bytes, and the decoded text of every
Parquet file, so a search cannot miss a value hidden by compression. Given the users' data keys,
encrypted values are decrypted first, so a search also checks what scrubbing left in the text;
without them it sees what is stored (ciphertext)."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from libs.common.crypto import get_data_keys
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_crypto import RAW_EVENTS_COLUMNS, SUBJECT_COLUMN, decrypt_table, keys_for


def lake_texts(
    lake: Lake, prefix: str = "", keys: Mapping[str, bytes] | None = None, *, deep: bool = False
) -> dict[str, str]:
    """Object path -> searchable text (Parquet decoded to its values; others as raw text).
    `deep`: also nested Parquet columns (a Delta checkpoint's actions) as JSON, and gzip and
    zip files opened (exports, archives)."""
    texts: dict[str, str] = {}
    for obj in lake.list(prefix):
        data = lake.read_bytes(obj.path)
        if obj.path.endswith(".parquet"):
            texts[obj.path] = _parquet_text(data, keys, deep)
        elif deep and obj.path.endswith(".gz"):
            texts[obj.path] = gzip.decompress(data).decode("utf-8", errors="replace")
        elif deep and obj.path.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [archive.read(name) for name in archive.namelist()]
            texts[obj.path] = "\n".join(m.decode("utf-8", errors="replace") for m in members)
        else:
            texts[obj.path] = data.decode("utf-8", errors="replace")
    return texts


def _parquet_text(data: bytes, keys: Mapping[str, bytes] | None, deep: bool) -> str:
    table = pq.read_table(io.BytesIO(data))
    if keys is not None and SUBJECT_COLUMN in table.column_names:
        strings = [f.name for f in table.schema if f.name != SUBJECT_COLUMN and _is_string(f.type)]
        table = decrypt_table(table, keys, strings)
    values = []
    for column in table.columns:
        if _is_string(column.type):
            values.extend(v for v in column.to_pylist() if v)
        elif deep and pa.types.is_nested(column.type):
            values.append(orjson.dumps(column.to_pylist(), default=str).decode())
    return "\n".join(values)


def _is_string(kind: pa.DataType) -> bool:
    # delta-rs writes the files a DELETE or MERGE rewrites with string_view columns
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def find(
    lake: Lake,
    needles: list[str],
    prefix: str = "",
    keys: Mapping[str, bytes] | None = None,
    *,
    deep: bool = False,
) -> list[tuple[str, str]]:
    """(path, needle) for every needle found anywhere under the prefix, case-insensitively."""
    hits = []
    for path, content in lake_texts(lake, prefix, keys, deep=deep).items():
        lowered = content.lower()
        hits.extend((path, n) for n in needles if n.lower() in lowered)
    return hits


async def all_keys() -> dict[str, bytes]:
    async with get_engine().connect() as conn:
        return await get_data_keys().all(conn)


async def decrypted_rows(
    lake: Lake, path: str, columns: Iterable[str] = RAW_EVENTS_COLUMNS
) -> list[dict[str, Any]]:
    """A Delta table's rows as a reader sees them: encrypted columns decrypted."""
    table = lake.delta_table(path)
    if table is None:
        return []
    rows = table.to_pyarrow_table()
    async with get_engine().connect() as conn:
        keys = await keys_for(conn, rows, get_data_keys())
    return decrypt_table(rows, keys, columns).to_pylist()


def stored_rows(lake: Lake, path: str) -> list[dict[str, Any]]:
    table = lake.delta_table(path)
    return [] if table is None else table.to_pyarrow_table().to_pylist()
