"""Withdrawn consent reaches exports already made: the lines of users who no longer consent to
`ai_training` are removed from every finished export that holds them (the same rewrite as
an erasure: new file names, a new manifest revision). Beat runs it every few minutes; new
exports leave such users out at export time anyway."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.consent import withdrawn
from libs.common.contracts import ConsentPurpose
from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from libs.common.subjects import subject_key
from services.export.lineage import rewrite

EXPORTS_HOLDING = text(
    "SELECT export_id, array_agg(DISTINCT subject_key) FROM export.lineage"
    " WHERE subject_key = ANY(:k) GROUP BY export_id ORDER BY export_id"
)


async def drop_withdrawn(
    engine: AsyncEngine, lake: Lake, settings: CommonSettings
) -> dict[str, Any]:
    """Rewrite every export holding a line of a user who withdrew; what was removed."""
    async with engine.connect() as conn:
        users = await withdrawn(conn, ConsentPurpose.AI_TRAINING)
        keys = sorted({subject_key(u, settings) for u in users})
        holding = (await conn.execute(EXPORTS_HOLDING, {"k": keys})).all() if keys else []
    removed = 0
    for export_id, subjects in holding:
        removed += await rewrite.remove_subjects(engine, lake, export_id, list(subjects))
    return {"exports_rewritten": len(holding), "records": removed}
