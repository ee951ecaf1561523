"""ingest.pull_drops: the files file-drop jobs took from the lake.

A taken file stays where its producer dropped it, so it is a copy of what was pulled: a file
holding the user's records is rewritten without them in its own format, or deleted when
nothing is left. A record is the user's by the job's `subject_field`; a record whose user is
unknown (every record of a job without a `subject_field`, or one with no value in it: landed
with no `subject_key`) is the user's when one of its values is the user id exactly
(`subject_text.holds_id`: a top-level value or a nested string; a longer value that merely
contains the id is left alone). A taken file is never read again (`ingest.pull_files`
keeps its name), so the rewrite lands nothing twice. Drops in local folders are outside the
lake; their owners erase them.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from libs.common.lake import Lake
from libs.common.subject_rights import Collected, SubjectContext
from services.ingest.pull.sources.files import FORMATS, parse
from services.ingest.subjects.text import holds_id, strings_in

TAKEN_FILES = text(
    """
    SELECT j.name, j.source, j.landing, f.path
    FROM ingest.pull_files f JOIN ingest.pull_jobs j ON j.id = f.job_id
    WHERE j.kind = 'file_drop' ORDER BY j.name, f.path
    """
)


@dataclass(frozen=True)
class DropFile:
    job: str
    path: str  # under the lake root
    fmt: str
    subject_field: str | None


def _drop_files(rows: Sequence[Any]) -> Iterator[DropFile]:
    for job, source, landing, name in rows:
        field = (landing or {}).get("subject_field") or None
        if source.get("location", "lake") != "lake":
            continue
        prefix = source["path"].strip("/")
        fmt = source.get("format", "auto")
        if fmt == "auto":
            fmt = FORMATS.get(Path(name).suffix.lower(), "")
        if fmt:
            yield DropFile(job, f"{prefix}/{name}" if prefix else name, fmt, field)


def _theirs(record: dict[str, Any], drop: DropFile, user_id: str) -> bool:
    value = record.get(drop.subject_field) if drop.subject_field else None
    if value is None:  # no user known (as on landing): by the id as a value
        return holds_id(record, user_id)
    return str(value) == user_id


def _dump(records: list[dict[str, Any]], fmt: str, original: bytes) -> bytes:
    if fmt == "jsonl":
        return b"".join(orjson.dumps(r) + b"\n" for r in records)
    if fmt == "json":
        return orjson.dumps(records)
    header = next(csv.reader(io.StringIO(original.decode("utf-8-sig"))), [])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode()


class PullDropsStore:
    tables: tuple[str, ...] = ()

    @staticmethod
    async def _files(ctx: SubjectContext) -> list[DropFile]:
        async with ctx.engine.connect() as conn:
            return list(_drop_files((await conn.execute(TAKEN_FILES)).all()))

    async def collect(self, ctx: SubjectContext) -> Collected:
        drops = await self._files(ctx)
        return await asyncio.to_thread(self._collect, ctx.lake, drops, ctx.user_id)

    @staticmethod
    def _collect(lake: Lake, drops: list[DropFile], user_id: str) -> Collected:
        out = Collected(identifiers=[user_id])
        for drop in drops:
            if not lake.exists(drop.path):
                continue
            for record in parse(lake.read_bytes(drop.path), drop.fmt):
                if _theirs(record, drop, user_id):
                    out.records.append({"job": drop.job, "file": drop.path, "record": record})
                    out.texts += [s for s in strings_in(record) if s != user_id]
        return out

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        drops = await self._files(ctx)
        return await asyncio.to_thread(self._erase, ctx.lake, drops, ctx.user_id)

    @staticmethod
    def _erase(lake: Lake, drops: list[DropFile], user_id: str) -> dict[str, int]:
        counts = {"records": 0, "files_rewritten": 0, "files_deleted": 0}
        for drop in drops:
            if not lake.exists(drop.path):
                continue
            original = lake.read_bytes(drop.path)
            records = parse(original, drop.fmt)
            kept = [r for r in records if not _theirs(r, drop, user_id)]
            if len(kept) == len(records):
                continue
            counts["records"] += len(records) - len(kept)
            if kept:
                lake.write_bytes(drop.path, _dump(kept, drop.fmt, original))
                counts["files_rewritten"] += 1
            else:
                lake.delete(drop.path)
                counts["files_deleted"] += 1
        return counts
