"""`mindlake export`, loaded through the `mindlake.commands` entry point: runs an export in
process with a progress bar, queues one with --queue, and refuses bad ranges."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from typer.testing import CliRunner

from libs.common.cli import app
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.export.jobs import repository
from services.ingest.config import IngestSettings
from tests.export.test_training_pipeline import World, world  # noqa: F401 - the fixture

runner = CliRunner()


@pytest.fixture
def lake_settings(tmp_path: Path) -> IngestSettings:  # local only: the CLI reads the env
    return IngestSettings(lake_root=f"file://{tmp_path / 'lake'}")  # type: ignore[call-arg]


@pytest.fixture
def cli_env(lake_settings: IngestSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINDLAKE_LAKE_ROOT", lake_settings.lake_root)


def job(export_id: str) -> dict[str, Any] | None:
    """The job row (the CLI runs its own event loops: so does this)."""

    async def get() -> dict[str, Any] | None:
        engine = one_shot_engine()
        try:
            async with engine.connect() as conn:
                return await repository.get(conn, uuid.UUID(export_id))
        finally:
            await engine.dispose()

    return asyncio.run(get())


def test_export_is_a_mindlake_command() -> None:
    result = runner.invoke(app, ["export", "--help"])
    assert result.exit_code == 0
    for option in ("--start-date", "--end-date", "--services", "--last-days", "--queue"):
        assert option in result.output


def test_export_runs_in_process(world: World, cli_env: None) -> None:  # noqa: F811
    result = runner.invoke(
        app,
        [
            "export",
            "--start-date",
            "2026-03-02",
            "--end-date",
            "2026-03-02",
            "--services",
            "lyfbot-service,ai-service",
            "--min-quality",
            "0.7",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "done"
    assert "write" in result.output and "done" in result.output  # the progress bar's stages
    lake = Lake(world.settings)
    assert lake.exists(summary["paths"]["train_jsonl"])
    assert "train_parquet" not in summary["paths"]
    row = job(summary["id"])
    assert row is not None and row["requested_by"] == "cli"
    assert row["spec"]["services"] == ["ai-service", "lyfbot-service"]
    assert row["counts"]["out_train"] + row["counts"]["out_validation"] > 0


def test_queue_and_last_days(cli_env: None, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    before = client.llen("export")
    result = runner.invoke(app, ["export", "--last-days", "7", "--queue"])
    assert result.exit_code == 0, result.output
    export_id = orjson.loads(result.stdout.strip().splitlines()[-1])["id"]
    assert client.llen("export") == before + 1
    row = job(export_id)
    assert row is not None and row["status"] == "queued"
    start, end = row["spec"]["start_date"], row["spec"]["end_date"]
    assert (date.fromisoformat(end) - date.fromisoformat(start)).days == 6


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--start-date", "2026-03-05", "--end-date", "2026-03-01"],
        ["--start-date", "yesterday"],
        ["--last-days", "3", "--start-date", "2026-03-01"],
        ["--last-days", "0"],
    ],
)
def test_bad_ranges_are_refused(args: list[str]) -> None:
    result = runner.invoke(app, ["export", *args])
    assert result.exit_code == 2, result.output
