"""`mindlake risk`, loaded through the `mindlake.commands` entry point: trains on a synthetic
cohort in process, prints the held-out comparison, records the version; a lake with no
features is a clear failure with exit code 1, still recorded as a failed run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from libs.common.cli import app
from libs.common.db import one_shot_engine
from services.risk.config import get_risk_settings
from services.risk.models import ModelRow, TrainingJobRow

runner = CliRunner()


def rows() -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
    async def get() -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
        engine = one_shot_engine()
        try:
            async with engine.connect() as conn:
                models = (await conn.execute(select(ModelRow.version, ModelRow.alias))).all()
                jobs = await conn.execute(select(TrainingJobRow.trigger, TrainingJobRow.status))
                return [tuple(m) for m in models], [tuple(j) for j in jobs.all()]  # type: ignore[misc]
        finally:
            await engine.dispose()

    return asyncio.run(get())


@pytest.fixture
def cli_env(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MINDLAKE_LAKE_ROOT", f"file://{tmp_path / 'lake'}")
    get_risk_settings.cache_clear()

    async def empty() -> None:
        engine = one_shot_engine()
        async with engine.begin() as conn:
            await conn.execute(
                text("TRUNCATE risk.models, risk.model_subjects, risk.training_jobs")
            )
        await engine.dispose()

    asyncio.run(empty())
    yield
    get_risk_settings.cache_clear()


def test_train_on_a_synthetic_cohort(cli_env: None) -> None:
    result = runner.invoke(
        app, ["risk", "train", "--synthetic", "--users", "300", "--days", "150", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    for word in ("roc_auc", "brier", "rule baseline", "promoted to champion"):
        assert word in result.output
    models, jobs = rows()
    assert [alias for _, alias in models] == ["champion"] and jobs == [("cli", "done")]
    listed = runner.invoke(app, ["risk", "models"])
    assert listed.exit_code == 0 and "champion" in listed.output


def test_train_without_features_fails_clearly(cli_env: None) -> None:
    result = runner.invoke(app, ["risk", "train"])
    assert result.exit_code == 1
    assert "training failed: no feature rows to train on" in result.output
    assert "Traceback" not in result.output
    assert rows() == ([], [("cli", "failed")])
