"""The export service's store for erasure and portability (libs/common/subject_rights.py).

- `export.training_data`: the lines of finished training exports that came from the user,
  found through the lineage (export.lineage). Collect returns them as exported (already
  PII-scrubbed); erase rewrites each file without them (lineage/rewrite.py), writes a new manifest
  revision and deletes the user's lineage.
- `export.recommender`: the kept recommender-data runs (rows by subject_key).
- `export.analytics_reports`: the monthly engagement CSVs (a row per subject_key).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from libs.common.contracts import SubjectStore
from libs.common.subject_rights import Collected, StoreHandler, SubjectContext
from services.export.config import get_export_settings
from services.export.lineage import repository, rewrite
from services.export.recsys import erasure as recsys_erasure
from services.export.subjects.analytics import AnalyticsReportsStore

# This service's tables that hold no user data: jobs (date ranges, counts, paths, key ids).
NO_SUBJECT_DATA: tuple[str, ...] = ("export.exports",)


class TrainingData:
    tables: tuple[str, ...] = ("export.lineage",)

    async def collect(self, ctx: SubjectContext) -> Collected:
        async with ctx.engine.connect() as conn:
            found = await repository.lines_of(conn, ctx.subject_key)
        records: list[dict[str, Any]] = []
        for export_id, files in found.items():
            for file, lines in files.items():
                content = await asyncio.to_thread(rewrite.read_lines, ctx.lake, file)
                for line in lines:
                    if 0 < line <= len(content):
                        record = orjson.loads(content[line - 1])
                        records.append(
                            {"export_id": str(export_id), "file": file, "line": line, **record}
                        )
        # No needles: the lines are scrubbed copies of text the raw-events store returns.
        return Collected(records=records)

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        async with ctx.engine.connect() as conn:
            found = await repository.lines_of(conn, ctx.subject_key)
            unfinished = await rewrite.pending_superseded(conn)
        for export_id in unfinished:  # old files an interrupted rewrite left behind
            await rewrite.delete_superseded(ctx.engine, ctx.lake, export_id)
        removed = 0
        for export_id in found:
            removed += await rewrite.remove_subjects(
                ctx.engine, ctx.lake, export_id, [ctx.subject_key]
            )
        return {"exports_rewritten": len(found), "records": removed}


class RecommenderData:
    """processed/recommender/<tenant>/<run>/: the user's features, sequence and samples (by
    subject_key); the kept runs are rewritten without them."""

    tables: tuple[str, ...] = ()

    async def collect(self, ctx: SubjectContext) -> Collected:
        prefix = get_export_settings().export_recsys_prefix
        rows = await asyncio.to_thread(recsys_erasure.collect, ctx.lake, prefix, ctx.subject_key)
        return Collected(records=rows)

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        prefix = get_export_settings().export_recsys_prefix
        removed = await asyncio.to_thread(recsys_erasure.erase, ctx.lake, prefix, ctx.subject_key)
        return {"rows": removed}


HANDLERS: dict[str, StoreHandler] = {
    SubjectStore.EXPORT_TRAINING_DATA: TrainingData(),
    SubjectStore.EXPORT_RECOMMENDER: RecommenderData(),
    SubjectStore.EXPORT_ANALYTICS_REPORTS: AnalyticsReportsStore(),
}
