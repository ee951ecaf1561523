"""Backup files in the lake: `<prefix>/<model>/<YYYY-MM-DD>/<collection>.parquet`.

Columns: `point_id`, `subject_key` (in clear: it picks the key, and is a keyed hash), and
`vector` (base64 of float32) and `payload` (JSON) sealed with the user's data key like the raw
zone. An erased user's key is gone, so their rows can no longer be opened.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from libs.common.lake import Lake
from libs.common.lake_crypto import decrypt_table, encrypt_values

SCHEMA = pa.schema(
    [
        pa.field("point_id", pa.string(), nullable=False),
        pa.field("subject_key", pa.string(), nullable=False),
        pa.field("vector", pa.string(), nullable=True),
        pa.field("payload", pa.string(), nullable=True),
    ]
)
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class BackupFile:
    path: str
    model: str
    day: str
    collection: str


def model_of(collection: str) -> str:
    """`mindlake_all-minilm-l6-v2_384` -> `all-minilm-l6-v2`."""
    return collection.removeprefix("mindlake_").rsplit("_", 1)[0]


def path_of(prefix: str, collection: str, day: str) -> str:
    return f"{prefix}/{model_of(collection)}/{day}/{collection}.parquet"


def list_backups(lake: Lake, prefix: str) -> list[BackupFile]:
    """Every backup file, oldest day first."""
    found: list[BackupFile] = []
    for obj in lake.list(prefix):
        parts = obj.path.removeprefix(prefix + "/").split("/")
        if len(parts) == 3 and DAY.match(parts[1]) and parts[2].endswith(".parquet"):
            found.append(
                BackupFile(obj.path, parts[0], parts[1], parts[2].removesuffix(".parquet"))
            )
    return sorted(found, key=lambda b: (b.day, b.path))


def seal_rows(points: list[Any], keys: Mapping[str, bytes]) -> pa.Table:
    """Rows of the points whose user has a key (a user without one is erased: left out)."""
    kept = [p for p in points if (p.payload or {}).get("subject_key") in keys]
    subjects = [p.payload["subject_key"] for p in kept]
    vectors = [base64.b64encode(np.asarray(p.vector, np.float32).tobytes()).decode() for p in kept]
    payloads = [orjson.dumps(p.payload).decode() for p in kept]
    return pa.table(
        {
            "point_id": [str(p.id) for p in kept],
            "subject_key": subjects,
            "vector": encrypt_values(vectors, subjects, keys),
            "payload": encrypt_values(payloads, subjects, keys),
        },
        schema=SCHEMA,
    )


def opened(
    table: pa.Table, keys: Mapping[str, bytes]
) -> list[tuple[str, list[float], dict[str, Any]]]:
    """(point id, vector, payload) of the rows whose user's key still opens them."""
    plain = decrypt_table(table, keys, ["vector", "payload"])
    out = []
    for row in plain.to_pylist():
        if row["vector"] is None or row["payload"] is None:
            continue
        vector = np.frombuffer(base64.b64decode(row["vector"]), np.float32).tolist()
        out.append((row["point_id"], vector, orjson.loads(row["payload"])))
    return out


def read(lake: Lake, path: str) -> pa.Table:
    with lake.open_input_file(path) as f:
        return pq.read_table(f)


def write(lake: Lake, path: str, table: pa.Table) -> None:
    """Atomic: written under a temporary name, then moved into place."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    temp = f"{path}.{uuid.uuid4().hex}.tmp"
    lake.write_bytes(temp, sink.getvalue().to_pybytes())
    lake.move(temp, path)
