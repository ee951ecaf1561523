"""The sync over the real stack: raw/events in a local lake and on S3 over HTTP, consent in
Postgres, the real local model, Qdrant's local mode on disk.

Only consenting users' text is embedded, a second run embeds nothing new, long documents are
cut within the model's length, an erased user's text cannot be embedded, and the reconcile
adds a user who granted later and removes one who withdrew and an event that was deleted."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import models
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_tables import RAW_EVENTS
from libs.common.subjects import subject_key
from services.embedding.backends.local import LocalEmbedder
from services.embedding.sync.pipeline import sync
from services.embedding.sync.reconcile import reconcile
from services.embedding.vectors.points import PointPayload
from services.embedding.vectors.store import collection_name, qdrant, subject_filter
from tests.embedding.lake_support import Events, embedding_settings, erase_key, set_consent

pytestmark = pytest.mark.integration
EMBEDDER = LocalEmbedder("torch", threads=1)
COLLECTION = collection_name(EMBEDDER.info)
SOURCES = ["journal-service", "lyfbot-service", "chat-service", "community-service"]


@pytest.fixture
async def settings(lake_settings: Any, tmp_path: Path) -> Any:
    async with get_engine().begin() as conn:  # each test has a lake of its own
        await conn.execute(text("DELETE FROM embedding.watermarks"))
    return embedding_settings(lake_settings, tmp_path / "qdrant", embedding_sources=SOURCES)


def points_of(settings: Any, user: str) -> list[dict[str, Any]]:
    with qdrant(settings) as client:
        if not client.collection_exists(COLLECTION):
            return []
        found, _ = client.scroll(
            COLLECTION, scroll_filter=subject_filter(subject_key(user, settings)), limit=1000
        )
    return [p.payload or {} for p in found]


async def run(settings: Any) -> dict[str, Any]:
    return await sync(get_engine(), Lake(settings), settings, EMBEDDER)


async def test_only_consenting_users_are_embedded_and_a_second_run_adds_nothing(
    settings: Any,
) -> None:
    ev = Events(settings)
    yes, no, never = ev.user("yes"), ev.user("no"), ev.user("never")
    await set_consent({yes: True, no: False})
    ev.add(yes, "journal-service", title="Sunday", text="Walked by the canal and felt calmer.")
    ev.add(yes, "lyfbot-service", prompt="I can't sleep again", response="That sounds hard.")
    ev.add(yes, "chat-service", conversation_id="c1", message="see you at group tonight")
    ev.add(yes, "community-service", action="like")  # no content: nothing to embed
    ev.add(no, "journal-service", text="the quiet garden behind the library helps me")
    ev.add(never, "journal-service", text="my cousin's wedding made me anxious all week")
    ev.add(yes, "mood-service", score=6)  # not a text source
    await ev.land()

    first = await run(settings)

    assert first["chunks"] == 3
    assert first["no_consent"] == 2 and first["no_text"] == 1
    assert {p["service"] for p in points_of(settings, yes)} == {
        "journal-service", "lyfbot-service", "chat-service",
    }  # fmt: skip
    assert points_of(settings, no) == [] and points_of(settings, never) == []
    for payload in points_of(settings, yes):  # no text, no user id in Qdrant
        assert set(payload) == set(PointPayload.model_fields)
        assert yes not in str(payload) and "canal" not in str(payload)
        assert payload["model"] == EMBEDDER.info.name

    second = await run(settings)
    assert second.get("chunks", 0) == 0 and second.get("events", 0) == 0

    ev.add(yes, "journal-service", text="A new entry about the long train home.")
    await ev.land()
    third = await run(settings)
    assert third["chunks"] == 1 and third["events"] == 1


async def test_a_long_entry_is_cut_into_overlapping_chunks_within_the_model_length(
    settings: Any,
) -> None:
    ev = Events(settings)
    user = ev.user("writer")
    await set_consent({user: True})
    words = " ".join(f"thought{i % 97} about the day number {i}." for i in range(400))
    ev.add(user, "journal-service", text=words)
    await ev.land()

    counts = await run(settings)

    points = sorted(points_of(settings, user), key=lambda p: p["chunk_index"])
    assert counts["chunks"] == len(points) > 3
    assert [p["chunk_index"] for p in points] == list(range(len(points)))
    assert all(p["chunks"] == len(points) for p in points)
    document = words  # a journal without title: the document is the text
    for before, after in itertools.pairwise(points):
        assert after["chunk_start"] < before["chunk_end"]  # neighbours overlap
    for p in points:
        tokens = EMBEDDER.token_spans(document[p["chunk_start"] : p["chunk_end"]])
        assert len(tokens) <= settings.embedding_chunk_tokens
    assert points[-1]["chunk_end"] == len(document)


async def test_an_erased_users_text_is_never_embedded(settings: Any) -> None:
    ev = Events(settings)
    gone, kept = ev.user("gone"), ev.user("kept")
    await set_consent({gone: True, kept: True})
    ev.add(gone, "journal-service", text="the blue door on my street frightens me")
    ev.add(kept, "journal-service", text="baking bread with my neighbour on friday")
    await ev.land()
    await erase_key(settings, gone)  # consent still granted: only the key is gone

    counts = await run(settings)

    assert points_of(settings, gone) == []
    assert len(points_of(settings, kept)) == 1
    assert counts["no_text"] == 1


async def test_reconcile_adds_late_grants_and_removes_withdrawn_users_and_deleted_events(
    settings: Any,
) -> None:
    ev = Events(settings)
    late, leaving = ev.user("late"), ev.user("leaving")
    await set_consent({late: False, leaving: True})
    ev.add(late, "journal-service", text="painting the fence slowly over the weekend")
    ev.add(leaving, "journal-service", text="a long talk with my brother on the phone")
    ev.add(leaving, "journal-service", text="this entry will be deleted from the lake")
    ids = await ev.land()
    await run(settings)
    assert len(points_of(settings, leaving)) == 2 and points_of(settings, late) == []

    await set_consent({late: True, leaving: True})
    table = Lake(settings).delta_table(RAW_EVENTS)
    assert table is not None
    table.delete(f"event_id = '{ids[2]}'")
    counts = await reconcile(get_engine(), Lake(settings), settings, EMBEDDER)

    assert counts["chunks"] == 1 and counts["removed_stale"] == 1
    assert len(points_of(settings, late)) == 1
    assert [p["event_id"] for p in points_of(settings, leaving)] == [ids[1]]

    await set_consent({leaving: False})
    counts = await reconcile(get_engine(), Lake(settings), settings, EMBEDDER)
    assert points_of(settings, leaving) == [] and counts["removed_stale"] == 1
    assert len(points_of(settings, late)) == 1


async def test_a_user_withdrawn_while_a_batch_is_encoded_is_removed_after_the_upsert(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: consent passed at the start of the run, withdrawn before the upsert."""
    ev = Events(settings)
    user = ev.user("racer")
    await set_consent({user: True})
    ev.add(user, "journal-service", text="racing the consent change across the bridge")
    await ev.land()
    real_encode = EMBEDDER.encode
    withdrawn: Counter[str] = Counter()

    def encode_then_withdraw(texts: Any) -> Any:
        import asyncio
        import threading

        vectors = real_encode(texts)
        if not withdrawn:  # withdraw from another thread's loop, as another process would
            withdrawn["done"] += 1
            t = threading.Thread(target=lambda: asyncio.run(_withdraw(user)))
            t.start()
            t.join()
        return vectors

    monkeypatch.setattr(EMBEDDER, "encode", encode_then_withdraw)
    counts = await run(settings)

    assert counts["chunks"] == 1 and counts["removed_withdrawn"] == 1
    assert points_of(settings, user) == []


async def _withdraw(user: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from libs.common.settings import get_settings

    engine = create_async_engine(get_settings().database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis,"
                    " policy_version, source, actor_key_id, recorded_at) VALUES (:u,"
                    " 'personalization', false, 'explicit_consent', '2026-11', 'import',"
                    " 'test', clock_timestamp())"
                ),
                {"u": user},
            )
    finally:
        await engine.dispose()


def test_point_filter_matches_any_of_several_subjects() -> None:
    where = subject_filter("a", "b")
    condition = where.must[0]  # type: ignore[index]
    assert isinstance(condition, models.FieldCondition)
    assert condition.match == models.MatchAny(any=["a", "b"])


async def test_the_lag_counts_versions_and_age_until_a_run_catches_up(settings: Any) -> None:
    from services.embedding.sync.pipeline import lag

    ev = Events(settings)
    user = ev.user("lagging")
    await set_consent({user: True})
    ev.add(user, "journal-service", text="one entry")
    await ev.land()
    ev.add(user, "journal-service", text="another entry")
    await ev.land()

    behind = await lag(get_engine(), Lake(settings), settings, COLLECTION)
    assert behind["versions"] >= 2 and behind["seconds"] >= 0

    await run(settings)
    assert await lag(get_engine(), Lake(settings), settings, COLLECTION) == {
        "versions": 0, "seconds": 0.0,
    }  # fmt: skip
