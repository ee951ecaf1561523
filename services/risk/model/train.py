"""A training run: features and labels of the last `risk_history_days`, a candidate fitted
and judged on the newest `risk_validation_days` (fit.py), its artifacts in the lake, its
subjects recorded (for erasure), promoted to champion only when it earned it.

Every run is a `training_jobs` row, running then done (with the report) or failed (with the
error, counts only). Feature days end `risk_horizon_days` before `as_of`: a later day's label
window would reach past the events seen so far, and its negatives would be unknowns.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.catalog import asset_written, run_event
from libs.common.consent import query_allowed
from libs.common.contracts import ConsentPurpose
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from services.risk.config import RiskSettings
from services.risk.model import labels as outcome_labels
from services.risk.model.artifacts import version_path, write_artifacts
from services.risk.model.fit import fit
from services.risk.model.registry import CHAMPION, champion_row, load_model
from services.risk.models import ModelRow, ModelSubjectRow, TrainingJobRow

log = logging.getLogger(__name__)

Progress = Callable[[str], None] | None
PROMOTION_LOCK = 0x7215_4B00  # pg advisory lock: one promotion at a time
SUBJECT_BATCH = 5000


class TrainingError(RuntimeError):
    """A run that cannot train (too little data, no feature builder); counts only."""


def new_version(now: datetime) -> str:
    return f"risk-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@asynccontextmanager
async def training_job(engine: AsyncEngine, trigger: str) -> AsyncIterator[uuid.UUID]:
    """A running training_jobs row; marked failed (and the error re-raised) if the body fails.
    The body marks it done itself, in the transaction that records the model."""
    job_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(TrainingJobRow).values(
                id=job_id,
                status="running",
                trigger=trigger,
                started_at=datetime.now(UTC),
                promoted=False,
                report={},
            )
        )
    try:
        yield job_id
    except BaseException as exc:
        # Our errors say counts only; anything else is named by its type, not its text.
        error = str(exc) if isinstance(exc, TrainingError | ValueError) else type(exc).__name__
        async with engine.begin() as conn:
            await conn.execute(
                update(TrainingJobRow)
                .where(TrainingJobRow.id == job_id)
                .values(status="failed", finished_at=datetime.now(UTC), error=error[:2000])
            )
        raise


async def train(
    engine: AsyncEngine,
    lake: Lake,
    settings: RiskSettings,
    *,
    trigger: str,
    as_of: date | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    """Train on the lake's features and outcomes; returns the run's report."""
    note = progress or (lambda _: None)
    as_of = as_of or datetime.now(UTC).date()
    first = as_of - timedelta(days=settings.risk_history_days)
    end = as_of - timedelta(days=settings.risk_horizon_days - 1)  # exclusive
    async with training_job(engine, trigger) as job_id:
        note("features")
        table, sources = await _features(engine, lake, settings, first, end)
        table = await _consenting(engine, table)
        note("labels")
        outcomes = await outcome_labels.outcome_events(
            engine, lake, settings, _midnight(first), _midnight(as_of)
        )
        raw = lake.delta_table(RAW_EVENTS)
        sources["raw_events_version"] = None if raw is None else raw.version()
        y = outcome_labels.label_rows(
            table.column("day"), table.column("subject_key"), outcomes, settings.risk_horizon_days
        )
        sources |= {"as_of": as_of.isoformat(), "outcomes": outcomes.height}
        return await _train_table(
            engine, lake, settings, table, y, job_id=job_id, sources=sources, note=note
        )


async def train_on_table(
    engine: AsyncEngine,
    lake: Lake,
    settings: RiskSettings,
    table: pa.Table,
    labels: np.ndarray,
    *,
    trigger: str,
    sources: dict[str, Any] | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    """A run on a feature table and labels already at hand (a synthetic cohort's, in the demo
    and tests): the same judging, artifacts, promotion and job row as `train`."""
    note = progress or (lambda _: None)
    async with training_job(engine, trigger) as job_id:
        return await _train_table(
            engine, lake, settings, table, labels, job_id=job_id, sources=sources or {}, note=note
        )


async def _train_table(
    engine: AsyncEngine,
    lake: Lake,
    settings: RiskSettings,
    table: pa.Table,
    y: np.ndarray,
    *,
    job_id: uuid.UUID,
    sources: dict[str, Any],
    note: Callable[[str], None],
) -> dict[str, Any]:
    if table.num_rows == 0:
        raise TrainingError("no feature rows to train on")
    now = datetime.now(UTC)
    version = new_version(now)
    current = await champion_row(engine)
    champion = None
    if current is not None:
        loaded = await asyncio.to_thread(load_model, lake, current.path, current.version)
        champion = loaded if loaded.feature_set == table.column("feature_set")[0].as_py() else None
    note("fit")
    fitted = await asyncio.to_thread(
        fit,
        table,
        y,
        version=version,
        holdout_days=settings.risk_validation_days,
        horizon=settings.risk_horizon_days,
        threshold_high=settings.risk_threshold_high,
        champion=champion,
        champion_flagged=bool(current is not None and current.needs_retraining),
    )
    subjects = sorted(set(table.column("subject_key").to_pylist()))
    manifest = {
        "sources": sources,
        "split": fitted.split.summary(y),
        "rows": table.num_rows,
        "positives": int(y.sum()),
        "subjects": len(subjects),
        "horizon_days": settings.risk_horizon_days,
    }
    path = version_path(settings, version)
    note("artifacts")
    await asyncio.to_thread(write_artifacts, lake, path, fitted.model, fitted.report, manifest)
    report = {**fitted.report, "job_id": str(job_id), "path": path, "manifest": manifest}
    note("record")
    promoted = await _record(
        engine,
        job_id=job_id,
        version=version,
        path=path,
        report=report,
        subjects=subjects,
        promote=fitted.promote,
        compared_with=None if current is None else current.version,
        now=now,
    )
    asset_written(settings.risk_models_prefix, service="risk")  # the models row is committed
    features = sources.get("features_table_version")  # None: a synthetic table, not the lake's
    run_event(
        job_id, job="risk.train", service="risk", state="COMPLETE",
        inputs=[(settings.risk_features_table, features)] if features is not None else [],
        outputs=[(path, None)],
        facets={"model_version": version, "promoted": promoted, "rows": table.num_rows},
    )  # fmt: skip
    report["promoted"] = promoted
    return report


async def _record(
    engine: AsyncEngine,
    *,
    job_id: uuid.UUID,
    version: str,
    path: str,
    report: dict[str, Any],
    subjects: list[str],
    promote: bool,
    compared_with: str | None,
    now: datetime,
) -> bool:
    """The model row, its subjects, the alias move and the job's end, in one transaction. If
    the champion changed while this run trained, it was not the one compared: no promotion."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PROMOTION_LOCK})
        holder = await conn.scalar(select(ModelRow.version).where(ModelRow.alias == CHAMPION))
        if promote and holder != compared_with:
            promote = False
            report["not_promoted_because"] = "the champion changed during the run"
        metrics = {k: report[k] for k in ("candidate", "baseline", "champion", "calibration")}
        await conn.execute(
            insert(ModelRow).values(
                version=version,
                created_at=now,
                path=path,
                metrics=metrics,
                alias=None,
                needs_retraining=False,
            )
        )
        for i in range(0, len(subjects), SUBJECT_BATCH):
            batch = subjects[i : i + SUBJECT_BATCH]
            await conn.execute(
                insert(ModelSubjectRow),
                [{"model_version": version, "subject_key": s} for s in batch],
            )
        if promote:
            await conn.execute(
                update(ModelRow).where(ModelRow.alias == CHAMPION).values(alias=None)
            )
            await conn.execute(
                update(ModelRow).where(ModelRow.version == version).values(alias=CHAMPION)
            )
        report["promoted"] = promote
        await conn.execute(
            update(TrainingJobRow)
            .where(TrainingJobRow.id == job_id)
            .values(
                status="done",
                finished_at=datetime.now(UTC),
                model_version=version,
                promoted=promote,
                report=report,
            )
        )
    return promote


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


async def _features(
    engine: AsyncEngine, lake: Lake, settings: RiskSettings, first: date, end: date
) -> tuple[pa.Table, dict[str, Any]]:
    """The stored features of [first, end); days not stored yet are built and written."""
    try:
        build = importlib.import_module("services.risk.features.build")
    except ImportError as exc:
        raise TrainingError("the feature builder is not available") from exc
    table: pa.Table = await asyncio.to_thread(build.read_features, lake, settings, first, end)
    have = set(pc.unique(table.column("day")).to_pylist()) if table.num_rows else set()
    wanted = [first + timedelta(days=i) for i in range((end - first).days)]
    missing = [d for d in wanted if d not in have]
    built_days = 0
    if missing:
        built = await build.build_features(engine, lake, settings, missing)
        if built.num_rows:
            await asyncio.to_thread(build.write_features, lake, settings, built)
            asset_written(settings.risk_features_table, service="risk")
            built_days = len(set(pc.unique(built.column("day")).to_pylist()))
            table = await asyncio.to_thread(build.read_features, lake, settings, first, end)
    stored = lake.delta_table(settings.risk_features_table)
    return table, {
        "features_table_version": None if stored is None else stored.version(),
        "feature_days": len(wanted),
        "feature_days_built": built_days,
        "first_day": first.isoformat(),
        "end_day": end.isoformat(),
    }


async def _consenting(engine: AsyncEngine, table: pa.Table) -> pa.Table:
    """Rows of users who grant `risk_assessment` now (a stored day may predate a withdrawal)."""
    if table.num_rows == 0:
        return table
    users = sorted(pc.unique(table.column("user_id")).to_pylist())
    async with engine.connect() as conn:
        allowed = await query_allowed(conn, users, ConsentPurpose.RISK_ASSESSMENT)
    return table.filter(pc.is_in(table.column("user_id"), pa.array(sorted(allowed), pa.string())))
