"""The risk service's stores for erasure and portability (libs/common/subject_rights.py).

- `risk.features`: the user's rows of the daily features Delta table (by subject_key); erase
  deletes them and vacuums the files that held them, so no old version can yield them.
- `risk.assessments`, `risk.interventions`: the user's rows of those tables.
- `risk.training_manifests`: the model versions trained on the user (risk.model_subjects);
  erase deletes those rows and flags each such model `needs_retraining`: the next training run
  reads features that no longer hold the user, and its model replaces the flagged one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow.compute as pc
from sqlalchemy import delete, select, update

from libs.common.contracts import SubjectStore
from libs.common.lake import Lake, plain_strings
from libs.common.subject_rights import Collected, StoreHandler, SubjectContext
from services.risk.config import get_risk_settings
from services.risk.models import AssessmentRow, InterventionRow, ModelRow, ModelSubjectRow

# Tables without user data: training runs (counts and metrics) and model versions.
NO_SUBJECT_DATA: tuple[str, ...] = ("risk.training_jobs", "risk.models")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, int | float | bool | str | list | dict) or v is None else str(v))
            for k, v in row.items()}  # fmt: skip


class FeaturesStore:
    tables: tuple[str, ...] = ()

    @staticmethod
    def _rows(lake: Lake, subject: str) -> list[dict[str, Any]]:
        table = lake.delta_table(get_risk_settings().risk_features_table)
        if table is None:
            return []
        rows = plain_strings(table.to_pyarrow_table())
        found: list[dict[str, Any]] = rows.filter(
            pc.equal(rows["subject_key"], subject)
        ).to_pylist()
        return found

    @staticmethod
    def _erase(lake: Lake, subject: str) -> int:
        table = lake.delta_table(get_risk_settings().risk_features_table)
        if table is None:
            return 0
        # subject_key is a keyed hash in hex: safe to quote in the predicate
        metrics = table.delete(f"subject_key = '{subject}'")
        table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        return int(metrics.get("num_deleted_rows", 0))

    async def collect(self, ctx: SubjectContext) -> Collected:
        rows = await asyncio.to_thread(self._rows, ctx.lake, ctx.subject_key)
        return Collected(records=[_jsonable(r) for r in rows])

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        return {"rows": await asyncio.to_thread(self._erase, ctx.lake, ctx.subject_key)}


class RowsStore:
    """A table of this schema whose rows carry `subject_key`."""

    tables: tuple[str, ...]

    def __init__(self, model: Any) -> None:
        self.model = model
        self.tables = (f"risk.{model.__tablename__}",)

    async def collect(self, ctx: SubjectContext) -> Collected:
        async with ctx.engine.connect() as conn:
            rows = await conn.execute(
                select(self.model).where(self.model.subject_key == ctx.subject_key)
            )
            return Collected(records=[_jsonable(dict(r._mapping)) for r in rows])

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        async with ctx.engine.begin() as conn:
            result = await conn.execute(
                delete(self.model).where(self.model.subject_key == ctx.subject_key)
            )
        return {"rows": int(result.rowcount or 0)}


class TrainingManifestsStore:
    tables: tuple[str, ...] = ("risk.model_subjects",)

    async def collect(self, ctx: SubjectContext) -> Collected:
        async with ctx.engine.connect() as conn:
            versions = await conn.scalars(
                select(ModelSubjectRow.model_version).where(
                    ModelSubjectRow.subject_key == ctx.subject_key
                )
            )
            return Collected(records=[{"trained_into_model": v} for v in versions])

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        async with ctx.engine.begin() as conn:
            gone = await conn.scalars(
                delete(ModelSubjectRow)
                .where(ModelSubjectRow.subject_key == ctx.subject_key)
                .returning(ModelSubjectRow.model_version)
            )
            versions = sorted(set(gone))
            if versions:
                await conn.execute(
                    update(ModelRow)
                    .where(ModelRow.version.in_(versions))
                    .values(needs_retraining=True)
                )
        return {"manifest_rows": len(versions), "models_flagged": len(versions)}


HANDLERS: dict[str, StoreHandler] = {
    SubjectStore.RISK_FEATURES: FeaturesStore(),
    SubjectStore.RISK_ASSESSMENTS: RowsStore(AssessmentRow),
    SubjectStore.RISK_INTERVENTIONS: RowsStore(InterventionRow),
    SubjectStore.RISK_TRAINING_MANIFESTS: TrainingManifestsStore(),
}
