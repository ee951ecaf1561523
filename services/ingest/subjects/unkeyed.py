"""Pulled rows with no `subject_key`, found by the user id (for ingest.pulled_tables).

A pull job without a `subject_field` (or a record without that field) lands rows whose user is
unknown: no `subject_key`, the record scrubbed but not encrypted, so a user id kept in a
`keep_fields` field or left by the scrubber is there in clear. Such a row is the user's when a
value of its record is the user id exactly (`subjects/text.holds_id`).

Erasing them cannot use a predicate naming the record or the id: a DELETE's predicate is
written into `_delta_log`, and a MERGE logs a target filter that delta-rs may build from its
source's values. Instead the runs holding such rows are replaced: one overwrite whose
predicate names only their run ids (random, from `ingest.pull_runs`) writes back every row of
those runs but the user's. It is committed against the version that was read, so a concurrent
commit to the table fails it (the step is retried) rather than being undone by it.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, WriterProperties, write_deltalake

from services.ingest.subjects.text import holds_id

RUN_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
COLUMNS = ["subject_key", "record", "pulled_at", "run_id"]


def _theirs(rows: pa.Table, user_id: str) -> pa.Array:
    """Mask of the rows with no subject_key whose record names the user. The id is first
    looked for as it appears in the JSON text (the record was written by orjson, so its
    encoding is the same), and only those records are parsed."""
    needle = orjson.dumps(user_id).decode()[1:-1]
    records = rows["record"].cast(pa.string())
    candidates = pc.and_(
        pc.is_null(rows["subject_key"]), pc.fill_null(pc.match_substring(records, needle), False)
    )
    found = [False] * rows.num_rows
    at = pc.indices_nonzero(candidates)
    for i, text in zip(at.to_pylist(), records.take(at).to_pylist(), strict=True):
        record = orjson.loads(text)
        found[i] = isinstance(record, dict) and holds_id(record, user_id)
    return pa.array(found, pa.bool_())


def unkeyed_rows(table: DeltaTable, user_id: str) -> list[dict[str, Any]]:
    """The user's rows with no subject_key: record (parsed), pulled_at and run_id. Reads only
    the key column of files without a row of unknown user."""
    dataset = table.to_pyarrow_dataset()
    if "subject_key" not in dataset.schema.names:
        return []
    found: list[dict[str, Any]] = []
    for fragment in dataset.get_fragments():
        keys = fragment.to_table(schema=dataset.schema, columns=["subject_key"])["subject_key"]
        if not keys.null_count:
            continue
        rows = fragment.to_table(schema=dataset.schema, columns=COLUMNS)
        for row in rows.filter(_theirs(rows, user_id)).to_pylist():
            found.append(
                {
                    "record": orjson.loads(row["record"]),
                    "pulled_at": row["pulled_at"],
                    "run_id": row["run_id"],
                }
            )
    return found


def run_filter(run_ids: list[str]) -> str:
    if not all(RUN_ID_RE.match(r) for r in run_ids):
        raise ValueError("a run id is letters, digits, '_' and '-'")
    return "run_id IN ({})".format(", ".join(f"'{r}'" for r in run_ids))


def purge_unkeyed(table: DeltaTable, user_id: str) -> dict[str, int]:
    """Remove the user's rows with no subject_key (one commit, none when there are none).
    Callers hold the table's writer lock, then vacuum."""
    runs = sorted({r["run_id"] for r in unkeyed_rows(table, user_id)})
    if not runs:
        return {"rows": 0, "files_rewritten": 0}
    dataset = table.to_pyarrow_dataset()
    rows = dataset.to_table(filter=pc.field("run_id").isin(runs)).cast(dataset.schema)
    kept = rows.filter(pc.invert(_theirs(rows, user_id)))
    write_deltalake(
        table,
        kept,
        mode="overwrite",
        predicate=run_filter(runs),
        writer_properties=WriterProperties(compression="ZSTD"),
    )
    metrics = table.history(1)[0].get("operationMetrics", {})
    return {
        "rows": rows.num_rows - kept.num_rows,
        "files_rewritten": int(metrics.get("num_removed_files", 0)),
    }
