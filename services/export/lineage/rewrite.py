"""Removing a user's lines from finished exports (erasure), by lineage.

Each data file holding the user's lines is written again without them under a new name
(`<name>.v<N>.jsonl.gz`), the lineage of the other lines is renumbered and pointed at it, the
export's version goes up and a new manifest version (counts, checksums) is written, all in
one transaction under a lock per export. The old files are deleted after the commit; their
names wait in `superseded` until they are gone, so a crash in between is finished by the
next run, and a retry after a failed commit starts again from the unchanged old files.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.lake import Lake
from services.export.training import manifest as manifests
from services.export.training.writer import Written, gzip_bytes, table_bytes, write

_VERSIONED = re.compile(
    r"^(?P<stem>.*?)(?:\.v(?P<number>\d+))?(?P<ext>\.jsonl\.gz|\.jsonl|\.parquet|\.json)$"
)


def versioned(path: str, version: int) -> str:
    """`dir/a_1.jsonl.gz` -> `dir/a_1.v2.jsonl.gz` (and `a_1.v2...` -> `a_1.v3...`)."""
    match = _VERSIONED.match(path)
    if match is None:
        return f"{path}.v{version}"
    return f"{match['stem']}.v{version}{match['ext']}"


def version_of(name: str) -> tuple[str, int]:
    """`a_1.v2.jsonl.gz` -> (`a_1.jsonl.gz`, 2); a name without `.vN` is version 1."""
    match = _VERSIONED.match(name)
    if match is None:
        return name, 1
    number = match["number"]
    return f"{match['stem']}{match['ext']}", int(number) if number else 1


def read_lines(lake: Lake, path: str) -> list[bytes]:
    data = lake.read_bytes(path)
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data.splitlines()


def _without(lake: Lake, path: str, drop: set[int]) -> tuple[bytes, int]:
    """The file's bytes without the lines (rows) numbered in `drop` (1-based); rows left."""
    if path.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(lake.read_bytes(path)))
        keep = [i for i in range(table.num_rows) if i + 1 not in drop]
        kept = table.take(pa.array(keep, pa.int64()))
        return table_bytes(kept), kept.num_rows
    lines = [line for i, line in enumerate(read_lines(lake, path), 1) if i not in drop]
    body = b"".join(line + b"\n" for line in lines)
    return (gzip_bytes(body) if path.endswith(".gz") else body), len(lines)


@dataclass
class Rewritten:
    name: str  # train_jsonl, validation_parquet, ...
    old: str
    dropped: list[int]
    written: Written  # the new file

    @property
    def new(self) -> str:
        return self.written.path


def _rewrite_files(
    lake: Lake, drops: dict[str, list[int]], paths: dict[str, str], version: int
) -> list[Rewritten]:
    done = []
    for name, path in sorted(paths.items()):
        lines = drops.get(path)
        if not lines:
            continue
        data, rows = _without(lake, path, set(lines))
        written = write(lake, versioned(path, version), data, rows)
        done.append(Rewritten(name, path, sorted(lines), written))
    return done


def _new_manifest(
    manifest: dict[str, Any] | None, version: int, files: list[Rewritten], removed: int
) -> dict[str, Any]:
    """The next revision of the manifest: the rewritten files' names, rows and checksums,
    the output counts, and a line in `revisions` saying how many records erasure removed."""
    body = dict(manifest or {})
    entries = dict(body.get("files") or {})
    counts = dict(body.get("counts") or {})
    for f in files:
        entries[f.name] = manifests.file_entry(f.written)
        side = f.name.removesuffix("_jsonl")
        if f.name.endswith("_jsonl") and f"out_{side}" in counts:
            counts[f"out_{side}"] = f.written.records
    body["files"] = dict(sorted(entries.items()))
    body["counts"] = counts
    revisions = list(body.get("revisions") or [])
    revisions.append(
        {"revision": version, "at": datetime.now(UTC).isoformat(), "records_erased": removed}
    )
    body["revision"] = version
    body["revisions"] = revisions
    return body


_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('mindlake-export-rewrite'), hashtext(:id))")
_EXPORT = text(
    "SELECT paths, manifest, version, counts, superseded FROM export.exports"
    " WHERE id = :id FOR UPDATE"
)
_MINE = text(
    "SELECT file, line FROM export.lineage WHERE export_id = :id AND subject_key = ANY(:k)"
)
_MOVE = text(
    "UPDATE export.lineage SET file = :new, line = line -"
    " (SELECT count(*) FROM unnest(CAST(:dropped AS int[])) d WHERE d < line)"
    " WHERE export_id = :id AND file = :old"
)


async def remove_subjects(
    engine: AsyncEngine, lake: Lake, export_id: uuid.UUID, subject_keys: Sequence[str]
) -> int:
    """Remove every line of the users `subject_keys` from one export; records removed."""
    async with engine.begin() as conn:
        await conn.execute(_LOCK, {"id": str(export_id)})
        export = (await conn.execute(_EXPORT, {"id": export_id})).one_or_none()
        if export is None:
            return 0
        drops: dict[str, list[int]] = {}
        for file, line in await conn.execute(_MINE, {"id": export_id, "k": list(subject_keys)}):
            drops.setdefault(file, []).append(line)
        if not drops:
            return 0
        version = export.version + 1
        paths: dict[str, str] = dict(export.paths)
        drops = _with_siblings(drops, paths)
        files = await asyncio.to_thread(_rewrite_files, lake, drops, paths, version)
        removed = sum(len(f.dropped) for f in files if f.name.endswith("_jsonl"))
        await conn.execute(
            text("DELETE FROM export.lineage WHERE export_id = :id AND subject_key = ANY(:k)"),
            {"id": export_id, "k": list(subject_keys)},
        )
        for f in files:
            await conn.execute(
                _MOVE, {"id": export_id, "old": f.old, "new": f.new, "dropped": f.dropped}
            )
        superseded = [*export.superseded, *(f.old for f in files)]
        manifest = _new_manifest(export.manifest, version, files, removed)
        for f in files:
            paths[f.name] = f.new
        if "manifest" in paths:  # the new revision beside the old (which names no one)
            paths["manifest"] = versioned(paths["manifest"], version)
            data = manifests.dumps(manifest)
            await asyncio.to_thread(lake.write_bytes, paths["manifest"], data)
        counts = dict(export.counts or {})
        counts.update({k: v for k, v in manifest.get("counts", {}).items() if k.startswith("out_")})
        counts["erased"] = int(counts.get("erased", 0)) + removed
        await conn.execute(
            text(
                "UPDATE export.exports SET paths = CAST(:paths AS jsonb), version = :v,"
                " manifest = CAST(:m AS jsonb), counts = CAST(:c AS jsonb),"
                " superseded = CAST(:s AS jsonb) WHERE id = :id"
            ),
            {
                "id": export_id,
                "paths": orjson.dumps(paths).decode(),
                "v": version,
                "m": orjson.dumps(manifest, default=str).decode(),
                "c": orjson.dumps(counts).decode(),
                "s": orjson.dumps(superseded).decode(),
            },
        )
    await delete_superseded(engine, lake, export_id)
    return removed


def _with_siblings(drops: dict[str, list[int]], paths: dict[str, str]) -> dict[str, list[int]]:
    """The Parquet file of a side holds the JSONL file's rows in the same order: the
    lineage names the JSONL lines, so drop the same rows from it."""
    out = dict(drops)
    for name, path in paths.items():
        if name.endswith("_jsonl") and path in drops:
            sibling = paths.get(name.removesuffix("_jsonl") + "_parquet")
            if sibling:
                out.setdefault(sibling, list(drops[path]))
    return out


async def delete_superseded(engine: AsyncEngine, lake: Lake, export_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        old = await conn.scalar(
            text("SELECT superseded FROM export.exports WHERE id = :id"), {"id": export_id}
        )
    for path in old or []:
        if await asyncio.to_thread(lake.exists, path):
            await asyncio.to_thread(lake.delete, path)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE export.exports SET superseded = superseded - CAST(:done AS text[])"
                " WHERE id = :id"
            ),
            {"id": export_id, "done": list(old or [])},
        )
    return len(old or [])


async def pending_superseded(conn: AsyncConnection) -> list[uuid.UUID]:
    rows = await conn.scalars(text("SELECT id FROM export.exports WHERE superseded <> '[]'"))
    return list(rows.all())
