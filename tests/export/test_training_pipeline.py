"""The AI training export end to end over the real stack (Postgres, a local lake and S3 over
HTTP): chat turns land in raw/events encrypted with each user's data key, consent is in the
ledger, and the export must leave out the withdrawn user, the crisis pairs and every planted
email, phone number and name; keep each user on one side of the split; and write the same
bytes twice."""

from __future__ import annotations

import gzip
import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from faker import Faker
from sqlalchemy import text

from libs.common.crypto import DataKeys
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_crypto import encrypt_values
from libs.common.subjects import subject_key
from services.export.training import ExportResult, ExportSpec, run_training_export
from services.ingest.flush.raw_table import SCHEMA, RawEventsTable

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = T0.date()
CREATED = datetime(2026, 3, 3, 2, 0, 5, tzinfo=UTC)
USERS = 30
WITHDRAWN_TEXT = "the lighthouse on harrow point keeps me awake every night"
NEVER_TEXT = "my allotment tomatoes failed again and I feel useless"
CRISIS_TEXT = "I want to kill myself tonight, nothing helps"
COFFEE = "I'd kill for a coffee, the morning was long and slow"


@dataclass
class World:
    lake: Lake
    settings: Any
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    rows: list[tuple[str, str, datetime, dict[str, Any]]] = field(default_factory=list)

    @property
    def email(self) -> str:
        return f"jane.doe.{self.tag}@example.org"

    def user(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def turn(self, user: str, service: str, at: datetime, **body: Any) -> None:
        self.rows.append((user, service, at, body))

    async def land(self) -> None:
        subjects = [subject_key(u, self.settings) for u, _, _, _ in self.rows]
        async with get_engine().begin() as conn:
            keys = await DataKeys(self.settings).for_subjects(conn, subjects, create=True)
        bodies = [orjson.dumps(b).decode() for _, _, _, b in self.rows]
        now = datetime.now(UTC)
        table = pa.table(
            {
                "event_id": [f"evt-{self.tag}-{i:04d}" for i in range(len(self.rows))],
                "service": [s for _, s, _, _ in self.rows],
                "event_date": [at.date() for _, _, at, _ in self.rows],
                "event_type": ["conversation_turn"] * len(self.rows),
                "user_id": [u for u, _, _, _ in self.rows],
                "subject_key": subjects,
                "event_time": [at for _, _, at, _ in self.rows],
                "received_at": [now] * len(self.rows),
                "body": encrypt_values(bodies, subjects, keys),
                "extras": pa.nulls(len(self.rows), pa.string()),
                "pii_findings": pa.array([0] * len(self.rows), pa.int32()),
                "flush_batch": pa.array([1] * len(self.rows), pa.int64()),
            }
        )
        RawEventsTable(self.lake).append(table.cast(SCHEMA), token=uuid.uuid4().hex)


async def consent(changes: list[tuple[str, bool]]) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis, "
                "policy_version, source, actor_key_id, recorded_at) "
                "SELECT u, 'ai_training', g, 'explicit_consent', '2026-11', 'import', 'test', "
                "now() FROM unnest(CAST(:u AS text[]), CAST(:g AS boolean[])) "
                "WITH ORDINALITY AS t(u, g, n) ORDER BY n"
            ),
            {"u": [u for u, _ in changes], "g": [g for _, g in changes]},
        )


def build_world(world: World) -> None:
    fake = Faker("en_US")
    fake.seed_instance(11)
    at = T0
    for i in range(USERS):
        user = world.user(f"ok{i}")
        for _ in range(3):
            at += timedelta(seconds=7)
            world.turn(
                user,
                "lyfbot-service",
                at,
                prompt=fake.sentence(nb_words=12),
                response="I hear you. "
                + fake.sentence(nb_words=14)
                + " Would you like to talk it through?",
                conversation_id=f"conv-{world.tag}-{i}",
                intent="anxiety_support",
            )
    ok0, ok1, ok2 = world.user("ok0"), world.user("ok1"), world.user("ok2")
    # planted identifiers, in a whole turn and across a split conversation (ai-service)
    world.turn(
        ok0,
        "lyfbot-service",
        at + timedelta(seconds=1),
        prompt=f"You can reach me at {world.email} or (415) 555-0134, I told Sarah Johnson "
        "that I still feel anxious before meetings",
        response="Thank you for telling me. Would you like to talk about what Sarah Johnson "
        "said and how the meetings feel?",
        conversation_id=f"conv-pii-{world.tag}",
    )
    world.turn(
        ok2,
        "ai-service",
        at + timedelta(seconds=2),
        prompt="Summarize the feelings in this journal entry: dinner with Marissa Okonkwo "
        "helped, she said to email her at marissa.okonkwo@gmail.com",
        conversation_id=f"j-{world.tag}",
    )
    world.turn(
        ok2,
        "ai-service",
        at + timedelta(seconds=3),
        response="The writer seems grateful and calm after time with a friend, and hopeful "
        "about support.",
        conversation_id=f"j-{world.tag}",
    )
    # nothing left once scrubbed: dropped
    world.turn(
        ok0,
        "lyfbot-service",
        at + timedelta(seconds=4),
        prompt=f"{world.email} (415) 555-0134",
        response="Thanks, I understand. Would you like help updating your contact details?",
    )
    # crisis, and a harmless phrase that looks like one
    world.turn(
        ok1,
        "lyfbot-service",
        at + timedelta(seconds=5),
        prompt=CRISIS_TEXT,
        response="I'm really glad you told me. You are not alone; please call or text 988 now.",
    )
    world.turn(
        ok1,
        "lyfbot-service",
        at + timedelta(seconds=6),
        prompt=COFFEE,
        response="That sounds like a tiring start. Would a short walk help you reset a little?",
    )
    # withdrawn and never-consented users
    for name, prompt in (("gone", WITHDRAWN_TEXT), ("never", NEVER_TEXT)):
        world.turn(
            world.user(name),
            "lyfbot-service",
            at + timedelta(seconds=7),
            prompt=prompt,
            response="That sounds exhausting. Would you like to try a calming routine tonight?",
        )
    # outside the export: another service, another day
    world.turn(ok0, "journal-service", at, prompt="not a chat turn at all today", response="x y z")
    world.turn(
        ok0,
        "lyfbot-service",
        T0 + timedelta(days=3),
        prompt="this is from a later day entirely",
        response="I hear you, would you like to talk it through?",
    )


@pytest.fixture
async def world(lake_settings: Any, redis_url: str, database: str) -> World:
    lake = Lake(lake_settings)
    lake.ensure_root()
    w = World(lake, lake_settings)
    build_world(w)
    await w.land()
    consented = [w.user(f"ok{i}") for i in range(USERS)]
    await consent(
        [(u, True) for u in consented] + [(w.user("gone"), True), (w.user("gone"), False)]
    )
    return w


def spec(export_id: str, formats: tuple[str, ...] = ("jsonl",)) -> ExportSpec:
    return ExportSpec(
        start=DAY,
        end=date(2026, 3, 2),
        min_quality=0.7,
        validation_ratio=0.5,
        formats=formats,
        export_id=export_id,
        created_at=CREATED,
    )


async def export(world: World, export_id: str, **kwargs: Any) -> ExportResult:
    stages: list[str] = []
    result = await run_training_export(
        spec(export_id, **kwargs),
        lake=world.lake,
        engine=get_engine(),
        settings=world.settings,
        progress=lambda stage, done, total: stages.append(stage),
    )
    assert stages[0] == "read" and stages[-1] == "write"
    return result


def records(lake: Lake, path: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in gzip.decompress(lake.read_bytes(path)).splitlines()]


async def test_export_filters_scrubs_splits(world: World) -> None:
    result = await export(world, "e1", formats=("jsonl", "parquet"))
    lake = world.lake
    assert result.paths["train_jsonl"] == (
        "processed/training-data/ai_training_data_20260303T020005_e1_train.jsonl.gz"
    )
    train = records(lake, result.paths["train_jsonl"])
    validation = records(lake, result.paths["validation_jsonl"])
    out = train + validation
    assert train and validation
    assert len(out) == USERS * 3 + 3  # + the scrubbed whole turn, the split pair, the coffee
    blob = orjson.dumps(out).decode()
    for planted in (world.email, "555-0134", "Sarah", "Johnson", "Marissa", "Okonkwo", "gmail"):
        assert planted not in blob
    assert "<EMAIL_ADDRESS>" in blob and "<PERSON>" in blob
    for gone in (WITHDRAWN_TEXT, NEVER_TEXT, CRISIS_TEXT, "988", "later day", "not a chat"):
        assert gone not in blob
    assert COFFEE in blob
    assert world.tag not in blob  # no user id (the ids carry the tag)
    for record in out:
        assert set(record) == {"prompt", "completion", "metadata"}
        assert set(record["metadata"]) == {"source", "timestamp", "quality_score", "tags"}
        assert record["metadata"]["quality_score"] >= 0.7

    counts = result.counts
    assert counts.records_in == USERS * 3 + 8  # the two events outside are never read
    assert counts.dropped["no_consent"] == 2
    assert counts.dropped["crisis"] == 1
    assert counts.dropped["pii_dropped"] == 1
    assert counts.out_train == len(train) and counts.out_validation == len(validation)
    assert result.pii_scrubbed >= 3

    # lineage: every line has one user, and no user is on both sides
    sides: dict[str, set[str]] = {}
    lines = 0
    for subject, places in result.subjects.items():
        sides[subject] = {
            "train" if path.endswith("_train.jsonl.gz") else "val" for path, _ in places
        }
        lines += len(places)
    assert lines == len(out)
    assert all(len(s) == 1 for s in sides.values())
    assert subject_key(world.user("gone"), world.settings) not in result.subjects

    # Parquet beside the JSONL, same rows
    parquet = pq.read_table(io.BytesIO(lake.read_bytes(result.paths["train_parquet"])))
    assert parquet.column("prompt").to_pylist() == [r["prompt"] for r in train]

    manifest = orjson.loads(lake.read_bytes(result.paths["manifest"]))
    assert manifest == orjson.loads(orjson.dumps(result.manifest))
    assert manifest["source_tables"]["raw/events"]["version"] == 0
    assert manifest["counts"]["dropped"]["crisis"] == 1
    assert manifest["consent_snapshot_at"]
    assert manifest["pii_policy"]["version"] == "export-pii-1"
    assert manifest["files"]["train_jsonl"]["records"] == len(train)
    assert world.tag not in lake.read_bytes(result.paths["manifest"]).decode()


async def test_same_inputs_give_the_same_bytes(world: World) -> None:
    first = await export(world, "same")
    data = {k: world.lake.read_bytes(p) for k, p in first.paths.items() if k != "manifest"}
    again = await export(world, "same")
    assert {k: world.lake.read_bytes(p) for k, p in again.paths.items() if k != "manifest"} == data
    for name, written in again.manifest["files"].items():
        assert written["sha256"] == first.manifest["files"][name]["sha256"]
    assert first.subjects == again.subjects


async def test_no_table_gives_empty_files(lake_settings: Any, database: str) -> None:
    lake = Lake(lake_settings)
    lake.ensure_root()
    result = await run_training_export(
        spec("empty"), lake=lake, engine=get_engine(), settings=lake_settings, progress=None
    )
    assert result.counts.records_in == 0 and result.subjects == {}
    assert records(lake, result.paths["train_jsonl"]) == []
    assert result.manifest["source_tables"]["raw/events"]["version"] is None
