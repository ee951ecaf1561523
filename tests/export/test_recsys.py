"""Recommender training data over a hand-made tenant (interactions + items Delta tables in
the ingest schema), on a local folder and on S3: features, sequences, negative sampling,
determinism, consent and pruning."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from sqlalchemy import text

from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from libs.common.subjects import subject_key
from services.export.config import ExportSettings
from services.export.recsys import erasure
from services.export.recsys.build import build_all, build_recommender_data
from services.export.recsys.sampling import draw_negatives, user_stream
from services.ingest.csv_upload.tables import INTERACTIONS, ITEMS, table_path

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CATALOGUE = [f"i{n}" for n in range(1, 21)]


@pytest.fixture
def settings(lake_settings: Any) -> ExportSettings:
    return ExportSettings(**lake_settings.model_dump())


@pytest.fixture
def users() -> dict[str, str]:
    """Fresh user ids per test: the consent ledger is append-only."""
    tag = uuid.uuid4().hex[:8]
    return {name: f"{name}-{tag}" for name in ("alice", "bob", "carol", "dave", "erin", "frank")}


def interaction_rows(users: dict[str, str]) -> list[tuple[str, str, str, int, float | None]]:
    """(user, item, type, minutes after T0, rating)."""
    a, b, c, d, e, f = (users[n] for n in ("alice", "bob", "carol", "dave", "erin", "frank"))
    rows: list[tuple[str, str, str, int, float | None]] = [
        (a, "i1", "click", 0, 4.0),
        (a, "i2", "view", 1, None),
        (a, "i1", "purchase", 2, 5.0),
        (a, "i3", "like", 3, None),
        (a, "i4", "dislike", 4, 1.0),
        (b, "i1", "view", 5, 3.0),
        (b, "i5", "click", 6, None),
        (c, "i1", "click", 7, 1.0),  # no personalization consent
        (c, "i6", "like", 8, None),
        (d, "i7", "click", 9, 2.0),  # consent withdrawn
    ]
    rows += [(e, f"i{10 + n % 10}", "view", 100 + n, None) for n in range(60)]
    rows.append((e, "i20", "click", 200, None))
    # frank touched every item but i1: one negative is all there is
    rows += [(f, item, "view", 300 + n, None) for n, item in enumerate(CATALOGUE[1:])]
    rows.append((f, "i20", "click", 400, None))
    return rows


async def seed(lake: Lake, settings: ExportSettings, tenant: str, users: dict[str, str]) -> None:
    rows = interaction_rows(users)
    times = [T0 + timedelta(minutes=m) for _, _, _, m, _ in rows]
    interactions = pa.Table.from_pydict(
        {
            "row_key": [f"rk{n:04d}" for n in range(len(rows))],
            "user_id": [r[0] for r in rows],
            "subject_key": [subject_key(r[0], settings) for r in rows],
            "item_id": [r[1] for r in rows],
            "interaction_type": [r[2] for r in rows],
            "event_time": times,
            "event_date": [t.date() for t in times],
            "rating": [r[4] for r in rows],
            "upload_id": ["up1"] * len(rows),
            "landed_at": [T0] * len(rows),
        },
        schema=INTERACTIONS,
    )
    write_deltalake(
        lake.uri(table_path(tenant, "interactions")),
        interactions,
        partition_by=["event_date"],
        storage_options=lake.storage_options,
    )
    items = pa.Table.from_pydict(
        {
            "row_key": [f"ik-{i}" for i in CATALOGUE],
            "item_id": CATALOGUE,
            "category": ["books" if int(i[1:]) % 2 else "music" for i in CATALOGUE],
            "title": [f"Item {i}" for i in CATALOGUE],
            "price": [9.5] * len(CATALOGUE),
            "created_at": [T0] * len(CATALOGUE),
            "content_hash": ["h"] * len(CATALOGUE),
            "upload_id": ["up0"] * len(CATALOGUE),
            "landed_at": [T0] * len(CATALOGUE),
        },
        schema=ITEMS,
    )
    write_deltalake(
        lake.uri(table_path(tenant, "items")), items, storage_options=lake.storage_options
    )
    consent = [(users[n], "personalization", True) for n in ("alice", "bob", "erin", "frank")]
    consent += [
        (users["carol"], "ai_training", True),  # another purpose does not count
        (users["dave"], "personalization", True),
        (users["dave"], "personalization", False),  # then withdrawn
    ]
    engine = one_shot_engine()
    try:
        async with engine.begin() as conn:
            for user_id, purpose, granted in consent:  # in order: the last entry wins
                await conn.execute(
                    text(
                        "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis,"
                        " policy_version, source, actor_key_id, recorded_at)"
                        " VALUES (:u, :p, :g, 'consent', 'v1', 'app', 'test', now())"
                    ),
                    {"u": user_id, "p": purpose, "g": granted},
                )
    finally:
        await engine.dispose()


async def build(lake: Lake, settings: ExportSettings, tenant: str, run_id: str) -> dict[str, Any]:
    engine = one_shot_engine()
    try:
        return await build_recommender_data(
            tenant, lake=lake, engine=engine, settings=settings, run_id=run_id
        )
    finally:
        await engine.dispose()


def read(lake: Lake, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(pa.BufferReader(lake.read_bytes(path))).to_pylist()
    return rows


def run_dir(settings: ExportSettings, tenant: str, run_id: str) -> str:
    return f"{settings.export_recsys_prefix}/{tenant}/{run_id}"


async def test_features_sequences_and_samples(
    settings: ExportSettings, users: dict[str, str], database: str
) -> None:
    lake, tenant = Lake(settings), "acme"
    await seed(lake, settings, tenant, users)
    manifest = await build(lake, settings, tenant, "20260105T120000Z")
    out = run_dir(settings, tenant, "20260105T120000Z")
    a, b, e, f = (users[n] for n in ("alice", "bob", "erin", "frank"))

    features = {r["user_id"]: r for r in read(lake, f"{out}/user_features.parquet")}
    assert set(features) == {a, b, e, f}  # carol (no consent) and dave (withdrawn) absent
    assert features[a]["total_interactions"] == 5
    assert features[a]["unique_items"] == 4
    assert features[a]["avg_rating"] == pytest.approx((4 + 5 + 1) / 3)
    assert features[a]["last_interaction"] == T0 + timedelta(minutes=4)
    assert features[a]["subject_key"] == subject_key(a, settings)
    assert (features[b]["total_interactions"], features[b]["unique_items"]) == (2, 2)
    assert features[b]["avg_rating"] == 3.0
    assert features[e]["avg_rating"] is None  # never rated
    assert features[e]["total_interactions"] == 61

    items = {r["item_id"]: r for r in read(lake, f"{out}/item_features.parquet")}
    # i1: alice twice, bob once; carol's click is not counted (no consent)
    assert items["i1"] == {
        "item_id": "i1",
        "category": "books",
        "popularity": 3,
        "unique_users": 2,
        "avg_rating": 4.0,
    }
    # i6, i7: frank only (carol's like and dave's click are not counted)
    assert items["i6"]["popularity"] == items["i7"]["popularity"] == 1
    assert items["i20"]["popularity"] == 3 and items["i20"]["unique_users"] == 2

    sequences = {r["user_id"]: r for r in read(lake, f"{out}/user_sequences.parquet")}
    assert sequences[a]["item_ids"] == ["i1", "i2", "i1", "i3", "i4"]  # oldest first
    erin = sequences[e]
    assert erin["length"] == 50 == len(erin["item_ids"]) == len(erin["event_times"])
    assert erin["item_ids"][-1] == "i20"  # the newest
    assert erin["event_times"][0] == T0 + timedelta(minutes=111)  # 61 - 50 dropped
    assert erin["event_times"] == sorted(erin["event_times"])

    positives = read(lake, f"{out}/samples/label=1/part-0.parquet")
    negatives = read(lake, f"{out}/samples/label=0/part-0.parquet")
    pairs = {(r["user_id"], r["item_id"]) for r in positives}
    assert pairs == {(a, "i1"), (a, "i3"), (b, "i5"), (e, "i20"), (f, "i20")}  # no view/dislike
    touched = {(u, i) for u, i, _, _, _ in interaction_rows(users)}
    assert negatives and not {(r["user_id"], r["item_id"]) for r in negatives} & touched
    assert len({(r["user_id"], r["item_id"]) for r in negatives}) == len(negatives)
    per_user = {u: sum(r["user_id"] == u for r in negatives) for u in (a, b, e, f)}
    assert per_user == {a: 8, b: 4, e: 4, f: 1}  # 1:4; frank has one untouched item only
    assert [r["item_id"] for r in negatives if r["user_id"] == f] == ["i1"]
    assert {r["user_id"] for r in positives + negatives} == {a, b, e, f}

    counts = manifest["counts"]
    assert counts["positives"] == 5 and counts["negatives"] == 17
    assert counts["negatives_short"] == 3
    assert counts["users_read"] == 6 and counts["users_without_consent"] == 2
    stored = orjson.loads(lake.read_bytes(f"{out}/manifest.json"))
    assert stored["sources"]["interactions"]["version"] == 0
    assert stored["negative_sampling"]["seed"] == settings.export_negative_seed
    assert stored["files"]["samples_label_0"]["rows"] == 17


async def test_same_seed_same_files(
    settings: ExportSettings, users: dict[str, str], database: str
) -> None:
    lake, tenant = Lake(settings), "acme"
    await seed(lake, settings, tenant, users)
    first = await build(lake, settings, tenant, "20260105T000000Z")
    second = await build(lake, settings, tenant, "20260105T060000Z")
    hashes = {name: f["sha256"] for name, f in first["files"].items()}
    assert hashes == {name: f["sha256"] for name, f in second["files"].items()}
    for name, file in second["files"].items():
        assert lake.read_bytes(file["path"]) == lake.read_bytes(first["files"][name]["path"])

    other = await build(
        lake, settings.model_copy(update={"export_negative_seed": 7}), tenant, "20260105T070000Z"
    )
    assert other["files"]["samples_label_1"]["sha256"] == hashes["samples_label_1"]
    assert other["files"]["samples_label_0"]["sha256"] != hashes["samples_label_0"]


async def test_all_tenants_prune_and_erased_rows(
    settings: ExportSettings, users: dict[str, str], database: str
) -> None:
    """Every tenant is built; old runs are pruned; a table rewritten by an erasure (string_view
    files) reads, and the erased user is gone."""
    lake = Lake(settings)
    await seed(lake, settings, "acme", users)
    other = {n: f"{u}-x" for n, u in users.items()}
    await seed(lake, settings, "globex", other)
    table = lake.delta_table(table_path("globex", "interactions"))
    assert table is not None
    table.delete(predicate=f"subject_key = '{subject_key(other['alice'], settings)}'")

    settings = settings.model_copy(update={"export_recsys_keep_runs": 2})
    engine = one_shot_engine()
    try:
        for run_id in ("20260101T000000Z", "20260101T060000Z", "20260101T120000Z"):
            built = await build_all(lake=lake, engine=engine, settings=settings, run_id=run_id)
            assert set(built) == {"acme", "globex"}
    finally:
        await engine.dispose()
    runs = {o.path.split("/")[3] for o in lake.list(f"{settings.export_recsys_prefix}/acme")}
    assert runs == {"20260101T060000Z", "20260101T120000Z"}
    globex = built["globex"]
    assert globex["sources"]["interactions"]["version"] == 1
    users_out = read(
        lake, f"{run_dir(settings, 'globex', '20260101T120000Z')}/user_features.parquet"
    )
    assert {r["user_id"] for r in users_out} == {other[n] for n in ("bob", "erin", "frank")}


async def test_erase_a_user_from_kept_runs(
    settings: ExportSettings, users: dict[str, str], database: str
) -> None:
    lake, tenant = Lake(settings), "acme"
    await seed(lake, settings, tenant, users)
    first = await build(lake, settings, tenant, "20260105T000000Z")
    await build(lake, settings, tenant, "20260105T060000Z")
    prefix, alice = settings.export_recsys_prefix, subject_key(users["alice"], settings)
    found = erasure.collect(lake, prefix, alice)
    assert {r["dataset"] for r in found} == set(erasure.USER_FILES)
    assert all(r["user_id"] == users["alice"] for r in found)

    assert erasure.erase(lake, prefix, alice) == 2 * (1 + 1 + 2 + 8)
    assert erasure.erase(lake, prefix, alice) == 0
    assert erasure.collect(lake, prefix, alice) == []
    manifest = orjson.loads(
        lake.read_bytes(f"{run_dir(settings, tenant, first['run_id'])}/manifest.json")
    )
    assert manifest["erased_rows"] == 12
    negatives = read(lake, manifest["files"]["samples_label_0"]["path"])
    assert len(negatives) == manifest["files"]["samples_label_0"]["rows"] == 9
    assert users["bob"] in {r["user_id"] for r in negatives}


def test_draw_negatives_never_touched_and_seeded() -> None:
    touched = np.array([0, 3, 5, 7])
    none = np.array([], dtype=np.int64)
    for seed_ in range(50):
        drawn = draw_negatives(user_stream(seed_, "t", "u"), 10, touched, 4)
        assert len(drawn) == 4 == len(set(drawn.tolist()))
        assert not set(drawn.tolist()) & set(touched)
    one = draw_negatives(user_stream(1, "t", "u"), 1000, none, 40)
    assert (one == draw_negatives(user_stream(1, "t", "u"), 1000, none, 40)).all()
    assert len(draw_negatives(user_stream(1, "t", "u"), 5, np.array([0, 1, 2]), 8)) == 2
