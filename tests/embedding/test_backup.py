"""Backups over the real stack (Postgres data keys, a local lake and S3, Qdrant local mode):
backup then restore gives the same points and the same nearest neighbours; an erased user's
rows cannot be restored; a user's rows are found and removed in every backup file. The points
are the labelled retrieval set's documents, embedded by the real local model, and "the same
neighbours" is checked for every labelled query."""

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
from services.embedding.backends.local import DIMENSION, LocalEmbedder
from services.embedding.backup import files
from services.embedding.backup.subjects import drop_subjects
from services.embedding.backup.tasks import backup_all
from services.embedding.vectors.points import point_id
from services.embedding.vectors.store import ensure_collection, qdrant
from tests.embedding.lake_support import embedding_settings, erase_key
from tests.embedding.retrieval_set import DOCUMENTS, QUERIES

pytestmark = pytest.mark.integration
COLLECTION = f"mindlake_test-model_{DIMENSION}"
EMBEDDER = LocalEmbedder("torch", threads=1)
USERS = 3  # document i belongs to user i % USERS
PER_USER = len(DOCUMENTS) // USERS


@pytest.fixture(scope="module")
def vectors() -> tuple[list[list[float]], list[list[float]]]:
    """The documents' and the queries' vectors, encoded once."""
    docs = EMBEDDER.encode(list(DOCUMENTS.values())).tolist()
    return docs, EMBEDDER.encode([q for q, _ in QUERIES]).tolist()


@pytest.fixture
async def world(
    lake_settings: Any, tmp_path: Path, vectors: tuple[list[list[float]], list[list[float]]]
) -> tuple[Any, list[str]]:
    settings = embedding_settings(lake_settings, tmp_path / "qdrant")
    users = [f"bk-{tmp_path.name}-{i}" for i in range(USERS)]
    keys = [subject_key(u, settings) for u in users]
    async with get_engine().begin() as conn:
        await DataKeys(settings).for_subjects(conn, keys, create=True)
    with qdrant(settings) as client:
        ensure_collection(client, COLLECTION, DIMENSION)
        client.upsert(COLLECTION, points=[
            models.PointStruct(
                id=point_id("journal-service", doc, 0),
                vector=vectors[0][i],
                payload={"subject_key": keys[i % USERS], "event_id": doc, "model": "test-model"},
            )
            for i, doc in enumerate(DOCUMENTS)
        ], wait=True)  # fmt: skip
    return settings, users


def neighbours(settings: Any, queries: list[list[float]]) -> list[list[str]]:
    """The top 5 of every labelled query, as point ids in rank order."""
    with qdrant(settings) as client:
        return [
            [str(p.id) for p in client.query_points(COLLECTION, query=q, limit=5).points]
            for q in queries
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
    world: tuple[Any, list[str]],
    vectors: tuple[list[list[float]], list[list[float]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, users = world
    queries = vectors[1]
    before = neighbours(settings, queries)
    assert len(before) == len(QUERIES) >= 50
    written = await backup_all(get_engine(), Lake(settings), settings)
    assert written[COLLECTION]["points"] == len(DOCUMENTS)
    backup = files.list_backups(Lake(settings), settings.embedding_backup_prefix)[0]
    raw = Lake(settings).read_bytes(backup.path)
    assert b"sleep-insomnia" not in raw  # payloads are sealed

    with qdrant(settings) as client:
        client.delete_collection(COLLECTION)
    output = await asyncio.to_thread(restore_cli, settings, monkeypatch)
    assert f"restored {len(DOCUMENTS)} points" in output
    assert neighbours(settings, queries) == before  # every labelled query, rank for rank

    await erase_key(settings, users[0])
    output = await asyncio.to_thread(restore_cli, settings, monkeypatch)
    kept = len(DOCUMENTS) - PER_USER
    assert f"restored {kept} points" in output
    assert f"{PER_USER} rows of erased users skipped" in output
    with qdrant(settings) as client:
        assert client.count(COLLECTION, exact=True).count == kept


async def test_a_users_rows_are_dropped_from_every_backup(world: tuple[Any, list[str]]) -> None:
    settings, users = world
    lake = Lake(settings)
    await backup_all(get_engine(), lake, settings)
    key = subject_key(users[1], settings)
    assert drop_subjects(lake, settings, [key]) == PER_USER
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
