"""What landed in `raw/events` since a watermark (a table version), one source at a time.

A Delta version is a set of data files; the rows landed after version W are the rows of the
files in the current version's set and not in W's, within the source's `service=` partition.
Comparing file sets, not times, is exact even when flushes commit out of order. A compaction
or an erasure rewrites files whose rows were already embedded: their chunks get the same
point ids, so the pipeline skips those already in the collection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from libs.common.lake import Lake, plain_strings
from libs.common.lake_tables import RAW_EVENTS

COLUMNS = ["event_id", "user_id", "subject_key", "event_time", "body"]


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the table's folder
    event_date: date  # the partition: where a search reads the text back from


def _source_files(table: DeltaTable, source: str) -> dict[str, DataFile]:
    actions = pa.table(table.get_add_actions(flatten=True))
    names = actions.column_names
    files: dict[str, DataFile] = {}
    for i, path in enumerate(actions.column("path").to_pylist()):
        row_service = actions.column("partition.service")[i].as_py()
        if row_service != source:
            continue
        day = (
            actions.column("partition.event_date")[i].as_py()
            if "partition.event_date" in names
            else None
        )
        files[path] = DataFile(
            unquote(path), day if isinstance(day, date) else date.fromisoformat(str(day))
        )
    return files


def table_version(lake: Lake) -> int | None:
    table = lake.delta_table(RAW_EVENTS)
    return None if table is None else table.version()


def new_files(lake: Lake, source: str, since: int | None) -> tuple[int | None, list[DataFile]]:
    """The table's current version and the source's files added after version `since`
    (every file when `since` is None, or when that version can no longer be read)."""
    table = lake.delta_table(RAW_EVENTS)
    if table is None:
        return None, []
    version = table.version()
    current = _source_files(table, source)
    if since is not None and since > version:  # the table was rebuilt: start again
        since = None
    if since == version:
        return version, []
    before: dict[str, DataFile] = {}
    if since is not None:
        try:
            old = DeltaTable(
                lake.uri(RAW_EVENTS), version=since, storage_options=lake.storage_options
            )
            before = _source_files(old, source)
        except Exception:  # the log of that version was cleaned up: read everything again
            before = {}
    added = [f for p, f in sorted(current.items()) if p not in before]
    return version, added


def read_files(lake: Lake, files: list[DataFile]) -> Iterator[tuple[DataFile, pa.Table]]:
    """Each file's rows (the columns the pipeline needs), one file at a time."""
    for file in files:
        with lake.open_input_file(f"{RAW_EVENTS}/{file.path}") as stream:
            # plain_strings: a file an erasure rewrote holds string_view columns, which
            # pyarrow cannot filter.
            yield file, plain_strings(pq.read_table(stream, columns=COLUMNS))
