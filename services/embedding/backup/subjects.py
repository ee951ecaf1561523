"""`embedding.backups` in the erasure and portability registry, and the withdrawal's rewrite:
a user's rows found in, or removed from, every backup file."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from libs.common.subject_rights import Collected, SubjectContext
from services.embedding.backup import files
from services.embedding.config import EmbeddingSettings


def _prefix(settings: CommonSettings) -> str:
    return (
        settings.embedding_backup_prefix
        if isinstance(settings, EmbeddingSettings)
        else "embeddings"
    )


def drop_subjects(lake: Lake, settings: CommonSettings, subject_keys: list[str]) -> int:
    """Rewrite every backup file holding these users' rows without them; rows removed."""
    removed = 0
    drop = pa.array(sorted(set(subject_keys)), pa.string())
    for backup in files.list_backups(lake, _prefix(settings)):
        table = files.read(lake, backup.path)
        theirs = pc.is_in(table.column("subject_key"), drop)
        n = pc.sum(theirs).as_py() or 0
        if n:
            files.write(lake, backup.path, table.filter(pc.invert(theirs)))
            removed += n
    return removed


class BackupsStore:
    tables: tuple[str, ...] = ()

    async def collect(self, ctx: SubjectContext) -> Collected:
        def run() -> list[dict[str, Any]]:
            keys = {ctx.subject_key: ctx.data_key} if ctx.data_key else {}
            records: list[dict[str, Any]] = []
            for backup in files.list_backups(ctx.lake, _prefix(ctx.settings)):
                table = files.read(ctx.lake, backup.path)
                mine = table.filter(pc.equal(table.column("subject_key"), ctx.subject_key))
                for point_id, _, payload in files.opened(mine, keys):
                    records.append({"file": backup.path, "point_id": point_id, **payload})
            return records

        # No needles: backups hold no text and no id, like the points.
        return Collected(records=await asyncio.to_thread(run))

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        removed = await asyncio.to_thread(drop_subjects, ctx.lake, ctx.settings, [ctx.subject_key])
        return {"rows": removed}
