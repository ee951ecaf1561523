"""Qdrant's local mode on disk: point ids, one collection per model, the lock that lets two
processes take turns, and deletion that leaves no bytes of the points behind."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import pytest
from qdrant_client import models

from libs.common.errors import ServiceUnavailable
from libs.common.settings import CommonSettings
from services.embedding.backends.base import ModelInfo
from services.embedding.vectors.points import point_id
from services.embedding.vectors.store import (
    collection_name,
    delete_subjects,
    ensure_collection,
    qdrant,
)

SECRET_SUBJECT = "5ub1ec7k3y0f4n3r4s3du53r"


def test_point_ids_are_stable_and_distinct() -> None:
    assert point_id("journal-service", "e1", 0) == point_id("journal-service", "e1", 0)
    ids = {point_id(s, e, i) for s in ("a", "b") for e in ("e1", "e2") for i in (0, 1)}
    assert len(ids) == 8
    assert uuid.UUID(point_id("a", "e1", 0)).version == 5


def test_models_and_quantized_variants_get_collections_of_their_own() -> None:
    torch = ModelInfo("all-minilm-l6-v2", "0.1.0", 384, 256)
    int8 = ModelInfo("all-minilm-l6-v2-int8", "0.1.0", 384, 256)
    openai = ModelInfo("text-embedding-3-small", "text-embedding-3-small", 1536, 8191)
    names = {collection_name(i) for i in (torch, int8, openai)}
    assert len(names) == 3
    assert collection_name(torch) == "mindlake_all-minilm-l6-v2_384"


def _hold_lock(
    path: str, ready: multiprocessing.synchronize.Event, go: multiprocessing.synchronize.Event
) -> None:
    with qdrant(CommonSettings(qdrant_path=path)):
        ready.set()
        go.wait(30)


def test_a_second_process_waits_for_the_folder_and_gives_up_with_a_503(tmp_path: Path) -> None:
    path = str(tmp_path / "q")
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, go))
    holder.start()
    try:
        assert ready.wait(60)
        with (
            pytest.raises(ServiceUnavailable),
            qdrant(CommonSettings(qdrant_path=path), lock_timeout_s=0.2),
        ):
            pass
    finally:
        go.set()
        holder.join(30)
    with qdrant(CommonSettings(qdrant_path=path), lock_timeout_s=5) as client:  # its turn now
        assert client.get_collections().collections == []


def test_deleting_a_users_points_proves_none_is_left_and_leaves_no_bytes(tmp_path: Path) -> None:
    settings = CommonSettings(qdrant_path=str(tmp_path / "q"))
    name = "mindlake_test_4"
    with qdrant(settings) as client:
        ensure_collection(client, name, 4)
        client.upsert(
            name,
            points=[
                models.PointStruct(
                    id=point_id("s", f"e{i}", 0), vector=[1.0, float(i), 0.0, 0.0],
                    payload={"subject_key": SECRET_SUBJECT if i < 3 else "other"},
                )
                for i in range(5)
            ],
            wait=True,
        )  # fmt: skip
    storage = tmp_path / "q" / "collection" / name / "storage.sqlite"
    assert SECRET_SUBJECT.encode() in storage.read_bytes()

    with qdrant(settings, vacuum=True) as client:
        assert delete_subjects(client, name, [SECRET_SUBJECT]) == 3
        assert delete_subjects(client, name, [SECRET_SUBJECT]) == 0
        assert client.count(name, exact=True).count == 2

    assert SECRET_SUBJECT.encode() not in storage.read_bytes()
