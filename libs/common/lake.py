"""The lake: one root URI (local folder or s3://bucket/prefix); all lake I/O goes through here.

Objects go through pyarrow's filesystem layer and Delta tables through deltalake, so the same
code serves a folder on disk and an S3 API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from pyarrow import fs

from libs.common.settings import CommonSettings, get_settings


@dataclass(frozen=True)
class LakeObject:
    path: str  # relative to the lake root
    size: int
    modified: datetime | None = None  # last write (retention ages objects by it)


class Lake:
    def __init__(self, settings: CommonSettings | None = None) -> None:
        self.settings = settings or get_settings()
        parsed = urlparse(self.settings.lake_root)
        self.is_s3 = parsed.scheme == "s3"
        if self.is_s3:
            self.bucket = parsed.netloc
            self.prefix = parsed.path.strip("/")
            self.root = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
            self._base = f"{self.bucket}/{self.prefix}".rstrip("/")
        elif parsed.scheme in ("", "file"):
            local = (
                parsed.netloc + parsed.path if parsed.scheme == "file" else self.settings.lake_root
            )
            path = Path(local).expanduser().resolve()
            self.root = str(path)
            self._base = str(path)
        else:
            raise ValueError(
                f"lake_root must be a folder, file:// or s3:// URI, not {parsed.scheme}://"
            )

    # --- locations -------------------------------------------------------------------------
    def uri(self, *parts: str) -> str:
        """Absolute URI (or local path) of a location under the root, as deltalake wants it."""
        rel = "/".join(p.strip("/") for p in parts if p)
        return f"{self.root}/{rel}" if rel else self.root

    def _full(self, rel: str) -> str:
        return f"{self._base}/{rel.strip('/')}" if rel else self._base

    # --- credentials -----------------------------------------------------------------------
    @property
    def storage_options(self) -> dict[str, str]:
        """Options for deltalake (object_store keys)."""
        if not self.is_s3:
            return {}
        s = self.settings
        opts = {"AWS_REGION": s.s3_region}
        if s.s3_endpoint_url:
            opts["AWS_ENDPOINT_URL"] = s.s3_endpoint_url
        if s.s3_access_key_id and s.s3_secret_access_key:
            opts["AWS_ACCESS_KEY_ID"] = s.s3_access_key_id.get_secret_value()
            opts["AWS_SECRET_ACCESS_KEY"] = s.s3_secret_access_key.get_secret_value()
        if s.s3_allow_http:
            opts["AWS_ALLOW_HTTP"] = "true"
        # Writers are serialized by a Postgres advisory lock, so no DynamoDB lock is needed.
        opts["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
        return opts

    @property
    def filesystem(self) -> fs.FileSystem:
        if not self.is_s3:
            return fs.LocalFileSystem()
        s = self.settings
        endpoint = s.s3_endpoint_url
        scheme = "https"
        if endpoint:
            parsed = urlparse(endpoint)
            scheme, endpoint = parsed.scheme or "https", parsed.netloc or parsed.path
        return fs.S3FileSystem(
            region=s.s3_region,
            endpoint_override=endpoint,
            scheme=scheme,
            access_key=s.s3_access_key_id.get_secret_value() if s.s3_access_key_id else None,
            secret_key=s.s3_secret_access_key.get_secret_value()
            if s.s3_secret_access_key
            else None,
        )

    # --- objects ---------------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> None:
        full = self._full(rel)
        if not self.is_s3:
            os.makedirs(os.path.dirname(full), exist_ok=True)
        with self.filesystem.open_output_stream(full, compression=None) as out:
            out.write(data)

    # Objects are stored as given: pyarrow would otherwise gzip a `.gz` name a second time.
    def open_output_stream(self, rel: str) -> pa.NativeFile:
        """A stream to write a large object piece by piece (S3: a multipart upload)."""
        full = self._full(rel)
        if not self.is_s3:
            os.makedirs(os.path.dirname(full), exist_ok=True)
        return self.filesystem.open_output_stream(full, compression=None)

    def open_input_stream(self, rel: str) -> pa.NativeFile:
        return self.filesystem.open_input_stream(self._full(rel), compression=None)

    def open_input_file(self, rel: str) -> pa.NativeFile:
        """A seekable file (Parquet readers need one: they read the footer first)."""
        return self.filesystem.open_input_file(self._full(rel))

    def move(self, src: str, dst: str) -> None:
        """Rename an object (S3: copy then delete, so readers see the old or the new one)."""
        self.filesystem.move(self._full(src), self._full(dst))

    def read_bytes(self, rel: str) -> bytes:
        with self.filesystem.open_input_stream(self._full(rel), compression=None) as src:
            data: bytes = src.read()
            return data

    def exists(self, rel: str) -> bool:
        return bool(self.filesystem.get_file_info(self._full(rel)).type != fs.FileType.NotFound)

    def delete(self, rel: str) -> None:
        self.filesystem.delete_file(self._full(rel))

    def list(self, prefix: str = "") -> list[LakeObject]:
        """Every object under `prefix`, recursively, with paths relative to the root."""
        selector = fs.FileSelector(self._full(prefix), recursive=True, allow_not_found=True)
        base = self._base.rstrip("/") + "/"
        return [
            LakeObject(
                path=info.path[len(base) :] if info.path.startswith(base) else info.path,
                size=info.size or 0,
                modified=info.mtime,
            )
            for info in self.filesystem.get_file_info(selector)
            if info.type == fs.FileType.File
        ]

    def ensure_root(self) -> None:
        if not self.is_s3:
            os.makedirs(self._base, exist_ok=True)

    # --- Delta tables ----------------------------------------------------------------------
    def delta_table(self, rel: str) -> DeltaTable | None:
        uri = self.uri(rel)
        if not DeltaTable.is_deltatable(uri, storage_options=self.storage_options):
            return None
        return DeltaTable(uri, storage_options=self.storage_options)


DELTA_LOG = "/_delta_log/"


def delta_tables(lake: Lake, prefix: str) -> list[str]:
    """Paths of the Delta tables under a prefix: the folders holding a `_delta_log`."""
    return delta_tables_in(lake.list(prefix))


def delta_tables_in(objects: list[LakeObject]) -> list[str]:
    """The Delta tables among listed objects (sorted paths of folders holding a `_delta_log`)."""
    return sorted({o.path.split(DELTA_LOG, 1)[0] for o in objects if DELTA_LOG in o.path})


def vacuum_all(lake: Lake, path: str, table: DeltaTable) -> int:
    """Vacuum with zero retention, when there is a file to remove. delta-rs lists removed
    files until their tombstones expire, even once gone: only files still present count, and
    with none the table gets no VACUUM commits (a second erasure changes nothing)."""
    planned = table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True)
    if not planned:
        return 0
    root = lake.uri(path).rstrip("/") + "/"
    present = {o.path[len(path) + 1 :] for o in lake.list(path)}
    live = {unquote(p[len(root) :] if p.startswith(root) else p) for p in planned} & present
    if live:
        table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    return len(live)


def plain_strings(table: pa.Table) -> pa.Table:
    """`table` with string_view columns as string.

    delta-rs writes the files a DELETE or MERGE rewrites with a string_view Arrow type
    (delta-io/delta-rs#4579, still so in 1.6.6), and pyarrow has no comparison kernels for
    it: a pushed-down filter on such a column fails. Readers that filter on a string column
    read it, cast here, then filter (`read_delta`)."""
    fields = [
        pa.field(f.name, pa.string(), f.nullable) if pa.types.is_string_view(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def read_delta(
    table: DeltaTable,
    columns: list[str],
    where: pc.Expression | None = None,
    *,
    partitions: pc.Expression | None = None,
) -> pa.Table:
    """Rows of a Delta table, string columns as string; `where` may use only `columns`.

    `partitions` is pushed down to the scan (it prunes files) and must touch partition
    columns only: a pushed-down filter on a string column of a rewritten file fails (see
    `plain_strings`); filter such columns with `where`, in memory."""
    scanned = table.to_pyarrow_dataset().to_table(columns=columns, filter=partitions)
    rows = plain_strings(scanned)
    return rows if where is None else rows.filter(where)


@lru_cache
def get_lake() -> Lake:
    return Lake()
