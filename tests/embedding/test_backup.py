"""Backups over the real stack (Postgres data keys, a local lake and S3, Qdrant local mode):
backup then restore gives the same points and the same nearest neighbours; an erased user's
rows cannot be restored; a user's rows are found and removed in every backup file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import models
from typer.testing import CliRunner

from libs.common.crypto import DataKeys
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.subjects import subject_key
from services.embedding.backup import files
from services.embedding.backup.subjects import drop_subjects
from services.embedding.backup.tasks import backup_all
from services.embedding.vectors.points import point_id
from services.embedding.vectors.store import ensure_collection, qdrant
from tests.embedding.lake_support import embedding_settings, erase_key

pytestmark = pytest.mark.integration
COLLECTION = "mindlake_test-model_4"


@pytest.fixture
async def world(lake_settings: Any, tmp_path: Path) -> tuple[Any, list[str]]:
    settings = embedding_settings(lake_settings, tmp_path / "qdrant")
    users = [f"bk-{tmp_path.name}-{i}" for i in range(3)]
    keys = [subject_key(u, settings) for u in users]
    async with get_engine().begin() as conn:
        await DataKeys(settings).for_subjects(conn, keys, create=True)
    with qdrant(settings) as client:
        ensure_collection(client, COLLECTION, 4)
        client.upsert(COLLECTION, points=[
            models.PointStruct(
                id=point_id("journal-service", f"e{u}{j}", 0),
                vector=[1.0, float(u), float(j), 0.5],
                payload={"subject_key": keys[u], "event_id": f"e{u}{j}", "model": "test-model"},
            )
            for u in range(3) for j in range(4)
        ], wait=True)  # fmt: skip
    return settings, users


def neighbours(settings: Any) -> list[list[str]]:
    with qdrant(settings) as client:
        return [
            [str(p.id) for p in client.query_points(COLLECTION, query=q, limit=5).points]
            for q in ([1, 0, 0, 0], [1, 2, 3, 0.5], [0, 1, 1, 1])
        ]


def restore_cli(settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    from services.embedding import config
    from services.embedding.backup.cli import app

    monkeypatch.setattr(config, "get_embedding_settings", lambda: settings)
    monkeypatch.setattr("services.embedding.backup.cli.get_embedding_settings", lambda: settings)
    result = CliRunner().invoke(app, ["restore", "--model", "test-model"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines


async def test_restore_gives_the_same_points_and_neighbours_and_skips_erased_users(
    world: tuple[Any, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, users = world
    before = neighbours(settings)
    written = await backup_all(get_engine(), Lake(settings), settings)
    assert written[COLLECTION]["points"] == 12
    backup = files.list_backups(Lake(settings), settings.embedding_backup_prefix)[0]
    raw = Lake(settings).read_bytes(backup.path)
    assert b"e00" not in raw  # payloads are sealed

    with qdrant(settings) as client:
        client.delete_collection(COLLECTION)
    assert "restored 12 points" in await asyncio.to_thread(restore_cli, settings, monkeypatch)
    assert neighbours(settings) == before

    await erase_key(settings, users[0])
    output = await asyncio.to_thread(restore_cli, settings, monkeypatch)
    assert "restored 8 points" in output and "4 rows of erased users skipped" in output
    with qdrant(settings) as client:
        assert client.count(COLLECTION, exact=True).count == 8


async def test_a_users_rows_are_dropped_from_every_backup(world: tuple[Any, list[str]]) -> None:
    settings, users = world
    lake = Lake(settings)
    await backup_all(get_engine(), lake, settings)
    key = subject_key(users[1], settings)
    assert drop_subjects(lake, settings, [key]) == 4
    assert drop_subjects(lake, settings, [key]) == 0
    for backup in files.list_backups(lake, settings.embedding_backup_prefix):
        assert key not in files.read(lake, backup.path).column("subject_key").to_pylist()


def test_old_backups_beyond_the_kept_days_are_pruned(tmp_path: Path) -> None:
    import pyarrow as pa

    from libs.common.settings import CommonSettings
    from services.embedding.backup.writer import prune
    from services.embedding.config import EmbeddingSettings

    settings = EmbeddingSettings(
        **{k: getattr(CommonSettings(), k) for k in CommonSettings.model_fields},
    ).model_copy(update={"lake_root": f"file://{tmp_path}", "embedding_backup_keep": 2})
    lake = Lake(settings)
    empty = pa.table({n: pa.array([], pa.string()) for n in files.SCHEMA.names})
    for day in ("2026-12-01", "2026-12-02", "2026-12-03"):
        files.write(lake, files.path_of("embeddings", COLLECTION, day), empty)
    assert prune(lake, settings) == 1
    assert [b.day for b in files.list_backups(lake, "embeddings")] == ["2026-12-02", "2026-12-03"]
