"""The ingest service's lake stores of a user's data (registered in subjects/stores.py).

Delta tables are searched and erased by `subject_key`, so no user id enters a predicate
(predicates are written into `_delta_log`); pulled rows with no `subject_key` are found by the
user id as a value and removed by replacing their runs (subjects/unkeyed.py). Erasing is
delete, then vacuum with zero retention (the files of older versions, which still hold the
rows, go at once), then a checkpoint; each under the lock every writer of that table takes, so
no commit races it and vacuum never removes a file a writer is about to commit. A table with
nothing of the user's gets no commit.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from libs.common import lake_tables
from libs.common.lake import Lake, delta_tables, vacuum_all
from libs.common.lake_locks import pull_job_locked, raw_events_locked
from libs.common.lake_tables import RAW_EVENTS
from libs.common.subject_rights import Collected, SubjectContext
from services.ingest.config import IngestSettings, get_ingest_settings
from services.ingest.csv_upload import repository as csv_repository
from services.ingest.subjects.text import (
    Undecryptable,
    mentions,
    reveal_json,
    strings_in,
    texts_of,
    unique,
)
from services.ingest.subjects.unkeyed import purge_unkeyed, unkeyed_rows

TENANTS, PULLED, QUARANTINE = lake_tables.TENANTS, lake_tables.PULLED, lake_tables.QUARANTINE
SUBJECT_KEY_RE = re.compile(r"^[0-9a-f]{16,64}$")
EVENT_COLUMNS = ["event_id", "service", "event_type", "event_time", "received_at", "body", "extras"]


# --- Delta tables ----------------------------------------------------------------------------
def subject_filter(subject_key: str) -> str:
    if not SUBJECT_KEY_RE.match(subject_key):
        raise ValueError("a subject_key is lowercase hex")
    return f"subject_key = '{subject_key}'"


def rows_of(table: DeltaTable, subject_key: str, columns: list[str]) -> pa.Table:
    """The subject's rows, reading only the key column of files that hold none of them.

    Files a DELETE or MERGE rewrote hold string_view columns: values are cast to the table's
    types before they are compared or combined."""
    subject_filter(subject_key)
    dataset = table.to_pyarrow_dataset()
    schema = pa.schema([dataset.schema.field(c) for c in columns])
    parts = [schema.empty_table()]
    for fragment in dataset.get_fragments():
        keys = fragment.to_table(schema=dataset.schema, columns=["subject_key"])["subject_key"]
        mask = pc.equal(keys.cast(pa.string()), pa.scalar(subject_key, pa.string()))
        if pc.any(mask).as_py():
            rows = fragment.to_table(schema=dataset.schema, columns=columns).filter(mask)
            parts.append(rows.cast(schema))
    return pa.concat_tables(parts)


def purge(lake: Lake, path: str, subject_key: str, *, user_id: str | None = None) -> dict[str, int]:
    """Delete the subject's rows (given `user_id`, also the rows with no subject_key that name
    them: `rows_by_id`), then every file no longer in the current version (older versions'
    copies of the rows), then checkpoint. Callers hold the table's writer lock."""
    table = lake.delta_table(path)
    if table is None:
        empty = {"rows": 0, "files_rewritten": 0, "files_purged": 0}
        return empty if user_id is None else {**empty, "rows_by_id": 0}
    return purge_open(lake, path, table, subject_key, user_id=user_id)


def purge_open(
    lake: Lake, path: str, table: DeltaTable, subject_key: str, *, user_id: str | None = None
) -> dict[str, int]:
    """`purge` of a table already open (at its latest version)."""
    deleted = table.delete(predicate=subject_filter(subject_key))
    counts = {
        "rows": int(deleted["num_deleted_rows"]),
        "files_rewritten": int(deleted["num_removed_files"]),
    }
    if user_id is not None:
        by_id = purge_unkeyed(table, user_id)
        counts["rows"] += by_id["rows"]
        counts["rows_by_id"] = by_id["rows"]
        counts["files_rewritten"] += by_id["files_rewritten"]
    counts["files_purged"] = vacuum_all(lake, path, table)
    if counts["files_rewritten"] or counts["files_purged"]:
        table.create_checkpoint()
    return counts


def has_subjects(table: DeltaTable) -> bool:
    return "subject_key" in table.schema().to_arrow().names


def merged(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


# --- ingest.raw_events -----------------------------------------------------------------------
class RawEventsStore:
    """raw/events: the user's events; body and extras decrypted with their data key."""

    tables: tuple[str, ...] = ()

    @staticmethod
    def path(ctx: SubjectContext) -> str:
        settings = ctx.settings
        if not isinstance(settings, IngestSettings):  # a worker's common settings
            settings = get_ingest_settings()
        return RAW_EVENTS

    async def collect(self, ctx: SubjectContext) -> Collected:
        return await asyncio.to_thread(self._collect, ctx)

    def _collect(self, ctx: SubjectContext) -> Collected:
        out = Collected(identifiers=[ctx.user_id])
        table = ctx.lake.delta_table(self.path(ctx))
        if table is None:
            return out
        for row in rows_of(table, ctx.subject_key, EVENT_COLUMNS).to_pylist():
            try:
                body = reveal_json(row["body"], ctx.data_key, ctx.subject_key)
                extras = reveal_json(row["extras"], ctx.data_key, ctx.subject_key)
            except Undecryptable:
                body, extras = None, None  # key destroyed: unreadable, as intended
            out.records.append(
                {
                    "event_id": row["event_id"],
                    "service": row["service"],
                    "event_type": row["event_type"],
                    "event_time": row["event_time"].isoformat(),
                    "received_at": row["received_at"].isoformat(),
                    "body": body,
                    "extras": extras,
                }
            )
            entry = {**(body or {}), **(extras or {})}
            out.texts += texts_of(row["service"], entry)
        out.texts = unique(out.texts)
        return out

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        # A session of its own: the lock lives there.
        async with ctx.engine.connect() as owner, raw_events_locked(owner):
            return await asyncio.to_thread(purge, ctx.lake, self.path(ctx), ctx.subject_key)


# --- ingest.tenant_tables --------------------------------------------------------------------
class TenantTablesStore:
    """raw/tenants/<tenant>/<type>: CSV-uploaded rows with a user column (items have none)."""

    tables: tuple[str, ...] = ()

    @staticmethod
    def _tables(lake: Lake) -> list[tuple[str, str, str]]:
        """(path, tenant, data type) of every tenant table."""
        found = []
        for path in delta_tables(lake, TENANTS):
            parts = path.split("/")
            if len(parts) == 4:
                found.append((path, parts[2], parts[3]))
        return found

    async def collect(self, ctx: SubjectContext) -> Collected:
        return await asyncio.to_thread(self._collect, ctx)

    def _collect(self, ctx: SubjectContext) -> Collected:
        out = Collected(identifiers=[ctx.user_id])
        for path, tenant, data_type in self._tables(ctx.lake):
            table = ctx.lake.delta_table(path)
            if table is None or not has_subjects(table):
                continue
            columns = [n for n in table.schema().to_arrow().names if n != "subject_key"]
            for row in rows_of(table, ctx.subject_key, columns).to_pylist():
                out.records.append({"tenant": tenant, "data_type": data_type, **row})
        return out

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        counts = []
        for path, tenant, data_type in await asyncio.to_thread(self._tables, ctx.lake):
            table = ctx.lake.delta_table(path)
            if table is None or not has_subjects(table):
                continue
            async with ctx.engine.begin() as conn:  # the upload's lock, until this commit
                await csv_repository.lock_table(conn, tenant, data_type)
                counts.append(await asyncio.to_thread(self._purge, ctx, path, table))
        return merged(counts) or {"rows": 0, "files_rewritten": 0, "files_purged": 0}

    @staticmethod
    def _purge(ctx: SubjectContext, path: str, table: DeltaTable) -> dict[str, int]:
        table.update_incremental()  # the commits made before the lock was taken
        return purge_open(ctx.lake, path, table, ctx.subject_key)


# --- ingest.pulled_tables --------------------------------------------------------------------
class PulledTablesStore:
    """raw/pulled/<job>: records of the user by `subject_key` (jobs with a subject field,
    decrypted with their key), and records with no `subject_key` (a job without a subject
    field, or a record without it) that hold the user id as a value (subjects/unkeyed.py)."""

    tables: tuple[str, ...] = ()

    async def collect(self, ctx: SubjectContext) -> Collected:
        return await asyncio.to_thread(self._collect, ctx)

    def _collect(self, ctx: SubjectContext) -> Collected:
        out = Collected(identifiers=[ctx.user_id])
        for path in delta_tables(ctx.lake, PULLED):
            table = ctx.lake.delta_table(path)
            if table is None or not has_subjects(table):
                continue
            job = path.rsplit("/", 1)[-1]
            for row in rows_of(table, ctx.subject_key, ["record", "pulled_at"]).to_pylist():
                try:
                    record = reveal_json(row["record"], ctx.data_key, ctx.subject_key)
                except Undecryptable:
                    record = None
                out.records.append(
                    {"job": job, "pulled_at": row["pulled_at"].isoformat(), "record": record}
                )
                out.texts += strings_in(record)
            for row in unkeyed_rows(table, ctx.user_id):
                out.records.append(
                    {"job": job, "pulled_at": row["pulled_at"].isoformat(), "record": row["record"]}
                )
                out.texts += strings_in(row["record"])
        out.texts = [t for t in unique(out.texts) if t not in (ctx.subject_key, ctx.user_id)]
        return out

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        counts = []
        for path in await asyncio.to_thread(delta_tables, ctx.lake, PULLED):
            # A run of the job holds its table: JobBusy, the step fails and is retried later.
            job = path.rsplit("/", 1)[-1]
            async with ctx.engine.connect() as owner, pull_job_locked(owner, job, wait=False):
                counts.append(await asyncio.to_thread(self._purge, ctx, path))
        return merged(counts) or {
            "rows": 0,
            "rows_by_id": 0,
            "files_rewritten": 0,
            "files_purged": 0,
        }

    @staticmethod
    def _purge(ctx: SubjectContext, path: str) -> dict[str, int]:
        return purge(ctx.lake, path, ctx.subject_key, user_id=ctx.user_id)


# --- ingest.quarantine -----------------------------------------------------------------------
class QuarantineStore:
    """raw/quarantine/<tenant>/<type>/<upload>.parquet: rejected CSV rows, as text. A row is
    the user's by its user_id column, or (a malformed line) by the id as a token of its text."""

    tables: tuple[str, ...] = ()

    @staticmethod
    def _files(lake: Lake) -> list[str]:
        return sorted(o.path for o in lake.list(QUARANTINE) if o.path.endswith(".parquet"))

    @staticmethod
    def _read(lake: Lake, path: str, user_id: str) -> tuple[pa.Table, pa.Array] | None:
        """The file and a mask of the user's rows; None when it has none."""
        table = pq.read_table(io.BytesIO(lake.read_bytes(path)))
        if "user_id" not in table.column_names:
            return None  # items: no user
        token = mentions(user_id)
        ids = table["user_id"].to_pylist()
        raw = (
            table["raw_text"].to_pylist() if "raw_text" in table.column_names else [None] * len(ids)
        )
        mask = pa.array(
            [u == user_id or bool(r and token.search(r)) for u, r in zip(ids, raw, strict=True)]
        )
        if not pc.any(mask).as_py():
            return None
        return table, mask

    async def collect(self, ctx: SubjectContext) -> Collected:
        return await asyncio.to_thread(self._collect, ctx)

    def _collect(self, ctx: SubjectContext) -> Collected:
        out = Collected(identifiers=[ctx.user_id])
        for path in self._files(ctx.lake):
            found = self._read(ctx.lake, path, ctx.user_id)
            if found is None:
                continue
            _, tenant, data_type, name = path.split("/")[-4:]
            for row in found[0].filter(found[1]).to_pylist():
                out.records.append(
                    {"tenant": tenant, "data_type": data_type, "upload_id": name[:-8], **row}
                )
                if row.get("raw_text"):
                    out.texts.append(row["raw_text"])
        return out

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        counts = {"rows": 0, "files_rewritten": 0, "files_deleted": 0}
        for path in await asyncio.to_thread(self._files, ctx.lake):
            tenant, data_type = path.split("/")[-3:-1]
            async with ctx.engine.begin() as conn:  # an upload writing this file holds it
                await csv_repository.lock_table(conn, tenant, data_type)
                kept = await asyncio.to_thread(self._rewrite, ctx.lake, path, ctx.user_id)
            if kept is None:
                continue
            removed, left = kept
            counts["rows"] += removed
            counts["files_rewritten" if left else "files_deleted"] += 1
        return counts

    def _rewrite(self, lake: Lake, path: str, user_id: str) -> tuple[int, int] | None:
        found = self._read(lake, path, user_id)
        if found is None:
            return None
        table, mask = found
        rest = table.filter(pc.invert(mask))
        if rest.num_rows == 0:
            lake.delete(path)
        else:
            buffer = io.BytesIO()
            pq.write_table(rest, buffer, compression="zstd")
            lake.write_bytes(path, buffer.getvalue())
        return table.num_rows - rest.num_rows, rest.num_rows
