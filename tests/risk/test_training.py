"""Training: on a held-out synthetic cohort the calibrated model beats the rule baseline;
the time split never trains on held-out days; promotion only when the candidate earned it;
artifacts in a real lake that load back into the same model; training_jobs rows; labels from
real landed events (Postgres and the lake are real)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import func, select, text, update

from libs.common.db import get_engine
from libs.common.lake import Lake
from services.risk.config import RiskSettings
from services.risk.features.columns import FEATURE_SET_VERSION, MODEL_INPUTS
from services.risk.model import registry
from services.risk.model.artifacts import FEATURES_FILE, MANIFEST_FILE, METRICS_FILE
from services.risk.model.cohort import CohortSpec, simulate
from services.risk.model.fit import fit, matrix
from services.risk.model.labels import label_rows, outcome_events
from services.risk.model.metrics import evaluate
from services.risk.model.split import SplitError
from services.risk.model.synthetic_features import features_and_labels
from services.risk.model.train import train_on_table
from services.risk.models import ModelRow, ModelSubjectRow, TrainingJobRow
from tests.embedding.lake_support import Events, set_consent
from tests.risk.events import add_at, at, risk_settings

HORIZON = 14
HOLDOUT = 21
SPEC = CohortSpec(users=300, days=150, end=date(2026, 11, 1), seed=1)
local = pytest.mark.parametrize("lake_settings", ["local"], indirect=True)


@cache
def cohort() -> tuple[pa.Table, np.ndarray]:
    return features_and_labels(simulate(SPEC), HORIZON)


def settings_for(lake_settings: Any) -> RiskSettings:
    return risk_settings(lake_settings, risk_validation_days=HOLDOUT, risk_horizon_days=HORIZON)


@pytest.fixture
async def empty_registry(database: str) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE risk.models, risk.model_subjects, risk.training_jobs"))
    registry._loaded.clear()


def test_model_beats_the_rule_baseline_and_is_calibrated() -> None:
    table, y = cohort()
    report = fit(
        table, y, version="t", holdout_days=HOLDOUT, horizon=HORIZON, threshold_high=0.6
    ).report
    model, baseline = report["candidate"], report["baseline"]
    assert model["roc_auc"] > baseline["roc_auc"] + 0.02
    assert model["pr_auc"] > baseline["pr_auc"]
    # Calibrated: below the Brier score of always guessing the held-out positive rate, p(1-p),
    # by a clear margin (a Brier skill score of at least 0.15), and below the baseline's.
    assert model["brier"] < 0.85 * model["brier_no_skill"]
    assert model["brier"] < baseline["brier"]
    assert report["calibration"] in ("sigmoid", "isotonic")
    assert {i["feature"] for i in report["importance"]} == set(MODEL_INPUTS)


def test_the_split_never_trains_on_held_out_days() -> None:
    table, y = cohort()
    days = table.column("day").to_numpy().astype("datetime64[D]")
    fitted = fit(table, y, version="a", holdout_days=HOLDOUT, horizon=HORIZON, threshold_high=0.6)
    split = fitted.split
    assert days[split.holdout].min() == days.max() - np.timedelta64(HOLDOUT - 1, "D")
    assert not (split.train & split.holdout).any() and not (split.calibrate & split.holdout).any()
    # Purged: a training label's horizon ends before calibration, a calibration one's before
    # the held-out window.
    horizon = np.timedelta64(HORIZON, "D")
    assert days[split.train].max() + horizon <= days[split.calibrate].min()
    assert days[split.calibrate].max() + horizon <= days[split.holdout].min()
    # Other held-out labels change the evaluation, never the model.
    flipped = y.copy()
    flipped[split.holdout] = 1 - flipped[split.holdout]
    other = fit(
        table, flipped, version="b", holdout_days=HOLDOUT, horizon=HORIZON, threshold_high=0.6
    )
    X = matrix(table)
    np.testing.assert_array_equal(fitted.model.predict(X), other.model.predict(X))
    assert other.report["candidate"]["roc_auc"] < 0.5 < fitted.report["candidate"]["roc_auc"]


@local
async def test_promotion_artifacts_and_jobs(lake_settings: Any, empty_registry: None) -> None:
    settings, engine = settings_for(lake_settings), get_engine()
    lake = Lake(settings)
    table, y = cohort()
    stages: list[str] = []

    first = await train_on_table(
        engine, lake, settings, table, y, trigger="cli", progress=stages.append
    )
    assert first["promoted"] is True and first["champion"] is None
    assert stages == ["fit", "artifacts", "record"]
    version = first["version"]

    # Artifacts: loadable from the lake alone, predicting what the trained model scored.
    registry._loaded.clear()
    champ = await registry.champion(engine, lake, settings)
    assert champ is not None and champ.version == version
    held = table.filter(
        pa.array(
            table.column("day").to_numpy() >= np.datetime64(first["split"]["holdout"]["first_day"])
        )
    )
    held_y = y[-held.num_rows :]
    again = evaluate(held_y, champ.predict(matrix(held)), settings.risk_threshold_high)
    assert again["roc_auc"] == first["candidate"]["roc_auc"]
    assert again["brier"] == first["candidate"]["brier"]
    explained = champ.explain(matrix(held)[:2], top=3)
    assert len(explained) == 2 and [len(e) for e in explained] == [3, 3]
    path = first["path"]
    assert path == f"{settings.risk_models_prefix}/{version}"
    assert json.loads(lake.read_bytes(f"{path}/{FEATURES_FILE}")) == {
        "inputs": list(MODEL_INPUTS),
        "feature_set": FEATURE_SET_VERSION,
    }
    assert json.loads(lake.read_bytes(f"{path}/{METRICS_FILE}"))["candidate"] == first["candidate"]
    manifest_text = lake.read_bytes(f"{path}/{MANIFEST_FILE}").decode()
    manifest = json.loads(manifest_text)
    assert manifest["rows"] == table.num_rows and manifest["positives"] == int(y.sum())
    assert "synthetic-" not in manifest_text  # counts only, no ids

    async with engine.connect() as conn:
        subjects = await conn.scalar(
            select(func.count()).where(ModelSubjectRow.model_version == version)
        )
        job = (await conn.execute(select(TrainingJobRow))).one()
    assert subjects == SPEC.users == manifest["subjects"]
    assert (job.status, job.trigger, job.model_version, job.promoted) == (
        "done",
        "cli",
        version,
        True,
    )
    assert job.report["candidate"] == first["candidate"] and job.finished_at is not None

    # A worse candidate (its training days' features shuffled, the held-out window intact) is
    # recorded but does not take the alias.
    rng = np.random.default_rng(0)
    before = ~(
        table.column("day").to_numpy() >= np.datetime64(first["split"]["holdout"]["first_day"])
    )
    noisy = table
    for name in MODEL_INPUTS:
        values = table.column(name).to_numpy().copy()
        values[before] = rng.permutation(values[before])
        noisy = noisy.set_column(noisy.schema.get_field_index(name), name, pa.array(values))
    second = await train_on_table(engine, lake, settings, noisy, y, trigger="api")
    assert second["promoted"] is False
    assert second["champion"]["version"] == version
    assert second["candidate"]["roc_auc"] < second["champion"]["roc_auc"]
    assert (await registry.champion_row(engine)).version == version  # type: ignore[union-attr]

    # A champion flagged for retraining does not stand in the way of one that beats the rules.
    async with engine.begin() as conn:
        await conn.execute(
            update(ModelRow).where(ModelRow.version == version).values(needs_retraining=True)
        )
    third = await train_on_table(engine, lake, settings, table, y, trigger="schedule")
    assert third["promoted"] is True and third["champion"]["flagged"] is True
    async with engine.connect() as conn:
        aliases = dict((await conn.execute(select(ModelRow.version, ModelRow.alias))).all())
        statuses = (await conn.execute(select(TrainingJobRow.status))).scalars().all()
    assert aliases == {version: None, second["version"]: None, third["version"]: "champion"}
    assert statuses == ["done"] * 3


@local
async def test_a_run_without_enough_days_is_recorded_as_failed(
    lake_settings: Any, empty_registry: None
) -> None:
    settings = settings_for(lake_settings)
    table, y = cohort()
    days = table.column("day").to_numpy()
    recent = days >= days.max() - np.timedelta64(40, "D")
    with pytest.raises(SplitError):
        await train_on_table(
            get_engine(),
            Lake(settings),
            settings,
            table.filter(pa.array(recent)),
            y[recent],
            trigger="api",
        )
    async with get_engine().connect() as conn:
        job = (await conn.execute(select(TrainingJobRow))).one()
        models = await conn.scalar(select(func.count()).select_from(ModelRow))
    assert job.status == "failed" and "days of features" in job.error and job.finished_at
    assert models == 0


@local
async def test_labels_from_landed_outcomes(lake_settings: Any) -> None:
    settings = settings_for(lake_settings)
    events = Events(settings)
    day = date(2026, 10, 1)
    phq_high, phq_low, episode, chat, no_consent = (events.user(n) for n in "abcde")
    add_at(events, phq_high, "clinical-service", at(day), outcome="phq9", phq9_score=16)
    add_at(events, phq_low, "clinical-service", at(day), outcome="phq9", phq9_score=14)
    add_at(events, episode, "clinical-service", at(day, 30), outcome="episode_confirmed")
    add_at(
        events,
        chat,
        "lyfbot-service",
        at(day),
        prompt="I keep thinking about ending it all.",
        response="I hear you.",
    )
    add_at(events, chat, "lyfbot-service", at(day), prompt="A nice walk today.", response="Lovely!")
    add_at(events, no_consent, "clinical-service", at(day), outcome="crisis_escalation")
    await events.land()
    await set_consent(
        {u: u != no_consent for u in (phq_high, phq_low, episode, chat, no_consent)},
        "risk_assessment",
    )

    found = await outcome_events(get_engine(), Lake(settings), settings, at(day, -24), at(day, 48))
    from libs.common.subjects import subject_key

    kinds = {row["subject_key"]: row["kind"] for row in found.to_dicts()}
    assert kinds == {
        subject_key(phq_high, settings): "phq9",
        subject_key(episode, settings): "episode_confirmed",
        subject_key(chat, settings): "crisis_turn",
    }
    # Positive for the horizon's days up to and including the outcome's day, not after it.
    key = subject_key(episode, settings)  # its outcome is on day + 1
    rows = [
        day + timedelta(days=1 - HORIZON),
        day + timedelta(days=2 - HORIZON),
        day + timedelta(days=1),
        day + timedelta(days=2),
    ]
    assert label_rows(rows, [key] * 4, found, HORIZON).tolist() == [0, 1, 1, 0]
