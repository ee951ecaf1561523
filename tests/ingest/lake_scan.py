"""Reading back everything under a lake root: every object's bytes, and the decoded text of every
Parquet file, so a search cannot miss a value hidden by compression."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from libs.common.lake import Lake


def lake_texts(lake: Lake, prefix: str = "") -> dict[str, str]:
    """Object path -> searchable text (Parquet decoded to its values; others as raw text)."""
    texts: dict[str, str] = {}
    for obj in lake.list(prefix):
        data = lake.read_bytes(obj.path)
        if obj.path.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            values = []
            for column in table.columns:
                if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                    values.extend(v for v in column.to_pylist() if v)
            texts[obj.path] = "\n".join(values)
        else:
            texts[obj.path] = data.decode("utf-8", errors="replace")
    return texts


def find(lake: Lake, needles: list[str], prefix: str = "") -> list[tuple[str, str]]:
    """(path, needle) for every needle found anywhere under the prefix."""
    hits = []
    for path, content in lake_texts(lake, prefix).items():
        lowered = content.lower()
        hits.extend((path, n) for n in needles if n.lower() in lowered)
    return hits
