"""The erasure verification scan: traces planted in every kind of place are found (on a local
lake and on S3 over HTTP, with the real Postgres and Redis); ids match as whole tokens; a
sentence in another user's row is shared content, not a trace; excluded prefixes are skipped;
the report never holds a needle's text."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest
import redis.asyncio as aioredis
from deltalake import DeltaTable, write_deltalake
from sqlalchemy import text

from libs.common.crypto import new_key
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.lake_crypto import encrypt_values
from libs.common.subject_rights import Collected
from libs.common.subjects import subject_key
from services.compliance.verification.needles import Matcher, Needles, needles_from, split_sentences
from services.compliance.verification.redis import message_bodies
from services.compliance.verification.report import ScanReport, search_column
from services.compliance.verification.scan import scan
from services.ingest.flush.raw_table import SCHEMA, RawEventsTable

SECRET = "I keep dreaming about the lighthouse on Harrow Point every single night"
ACCENTED = "Le café près de la gare sentait la cannelle et la pluie"
SHARED = "Thank you for listening to me today, it really helps"
OTHER = "My sister and I went hiking along the northern ridge on Sunday"


class World:
    """One test's users (unique per test: Postgres and Redis are shared by the session)."""

    def __init__(self, lake: Lake) -> None:
        tag = uuid.uuid4().hex[:8]
        self.lake = lake
        self.uid, self.other = f"u{tag}-1", f"u{tag}-10"
        self.email = f"jane.{tag}@example.org"
        self.subject = subject_key(self.uid, lake.settings)
        self.other_subject = subject_key(self.other, lake.settings)
        self.keys = {self.subject: new_key(), self.other_subject: new_key()}
        self.schema = f"scan_test_{tag}"
        self.redis_prefix = f"scan-test-{tag}"
        part = Collected(
            identifiers=[self.email],
            texts=[f"{SECRET}. {SHARED}! Ask <PERSON> about it.", ACCENTED + "."],
        )
        self.needles = needles_from([part], subject_key=self.subject, user_id=self.uid)

    def sentence(self, text: str) -> int:
        return next(i for i, s in enumerate(self.needles.sentences) if s in text or text in s)

    def events(self, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        """raw/events rows (user id, subject key, body), bodies encrypted with the row's key."""
        now = datetime.now(UTC)
        bodies = [orjson.dumps(body).decode() for _, _, body in rows]
        subjects = [s for _, s, _ in rows]
        table = pa.table(
            {
                "event_id": [uuid.uuid4().hex for _ in rows],
                "service": ["journal"] * len(rows),
                "event_date": [date(2026, 1, 2)] * len(rows),
                "event_type": ["journal.entry"] * len(rows),
                "user_id": [u for u, _, _ in rows],
                "subject_key": subjects,
                "event_time": [now] * len(rows),
                "received_at": [now] * len(rows),
                "body": encrypt_values(bodies, subjects, self.keys),
                "extras": pa.nulls(len(rows), pa.string()),
                "pii_findings": pa.array([0] * len(rows), pa.int32()),
                "flush_batch": pa.array([1] * len(rows), pa.int64()),
            }
        )
        RawEventsTable(self.lake).append(table.cast(SCHEMA), token=uuid.uuid4().hex)

    async def run(self, *, keys: dict[str, bytes] | None = None, **kwargs: Any) -> ScanReport:
        async with redis_client() as redis:
            return await scan(
                self.needles,
                lake=self.lake,
                engine=get_engine(),
                redis=redis,
                keys=self.keys if keys is None else keys,
                **kwargs,
            )


def redis_client() -> aioredis.Redis:  # type: ignore[type-arg]
    from libs.common.settings import get_settings

    return aioredis.Redis.from_url(get_settings().redis_url)


@pytest.fixture
async def world(lake_settings: Any, redis_url: str, database: str) -> AsyncIterator[World]:
    lake = Lake(lake_settings)
    lake.ensure_root()
    w = World(lake)
    async with get_engine().begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {w.schema}"))
        await conn.execute(
            text(f"CREATE TABLE {w.schema}.notes (id serial, subject_key text, note jsonb)")
        )
    yield w
    async with get_engine().begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {w.schema} CASCADE"))
    async with redis_client() as redis:
        async for key in redis.scan_iter(match=f"*{w.redis_prefix}*"):
            await redis.delete(key)
        await redis.delete(f"consent:{w.uid}")


def ours(report: ScanReport, w: World) -> list[tuple[str, str | None, str, int]]:
    """The traces in this test's places (the session's Postgres and Redis hold others')."""
    return [
        (k.where, k.column, k.kind, k.index)
        for k, _ in report.traces
        if k.where.startswith("lake:") or w.schema in k.where or w.redis_prefix in k.where
        or "consent:<identifier:0>" in k.where
    ]  # fmt: skip


def assert_no_needle_text(report: ScanReport, w: World) -> None:
    dumped = json.dumps(report.to_dict()).lower()
    for needle in [w.uid, w.email, *w.needles.sentences]:
        assert needle.lower() not in dumped


# --- needles ---------------------------------------------------------------------------------
def test_needles_cut_sentences_at_tags_and_json_unsafe_chars() -> None:
    text = (
        'Hello <PERSON>, the "garden by the river" was lovely\\ today and'
        " <EMAIL_ADDRESS:00ff00ff00ff00ff> sent ****1234 more."
    )
    pieces = split_sentences(text, min_chars=10)
    assert "garden by the river" in pieces
    assert all('"' not in p and "\\" not in p and "<" not in p and "*" not in p for p in pieces)
    needles = needles_from(
        [Collected(identifiers=[" jane@x.org ", "ab"], texts=[text, "Short one."])],
        subject_key="s",
        user_id="u-1",
        min_sentence_chars=10,
        max_sentences=2,
    )
    assert needles.identifiers == ["u-1", "jane@x.org", "EMAIL_ADDRESS:00ff00ff00ff00ff"]
    # "was lovely" and "today and" are too short to be prose (fewer than four words)
    assert needles.sentences == ["garden by the river"]


def test_needles_are_prose_not_tokens() -> None:
    """An id or hash long enough to pass the length rule is no sentence: records of other
    users (an upload's report, a table log) carry it too, and the scan would never pass."""
    assert split_sentences("9e73c99cd12e4baca7331f18a94ceddb", min_chars=10) == []
    assert split_sentences("e2e-u00,item-9,view,not-a-time,4", min_chars=10) == []
    assert split_sentences("I walked to the harbour at dawn", min_chars=10) == [
        "I walked to the harbour at dawn"
    ]


def test_identifiers_match_whole_tokens_only() -> None:
    matcher = Matcher(Needles("s", identifiers=["u-1", "jane@x.org", "+1 555 123 4567"]))

    def found(data: str) -> list[int]:
        return [m.form.index for m in matcher.find(data.lower().encode())]

    for miss in ["u-10", "xu-1", "u-1x", "u_u-1", "u-1.5", "a.jane@x.org", "jane@x.org.uk"]:
        assert found(miss) == [], miss
    for hit in ["u-1", '"u-1"', "(u-1,", "user:u-1:profile", "by u-1.", "JANE@X.ORG"]:
        assert found(hit) != [], hit
    assert found("tel:+15551234567") == [2]  # the phone, once, in another format


def test_a_column_search_sees_a_token_form_behind_a_non_token_one() -> None:
    """In `x+15551234567` the `+` form is glued to `x`, but the digits form is a token: both
    end at the same byte, and the column search (token edges checked per value) found
    nothing when the non-token match hid the other."""
    matcher = Matcher(Needles("s", identifiers=["+1 555 123 4567"]))
    for value in ["x+15551234567", "tel:+15551234567"]:
        hits = search_column(matcher, pa.array([value, "x15551234567"]), None, "s")
        assert dict(hits) == {("identifier", 0, False): 1}, value


def test_message_bodies_of_queued_and_unacked_celery_messages() -> None:
    envelope = {"body": base64.b64encode(b'[["u-1"], {}, {}]').decode(),
                "properties": {"body_encoding": "base64"}, "headers": {}}  # fmt: skip
    assert message_bodies(orjson.dumps(envelope)) == [b'[["u-1"], {}, {}]']
    unacked = orjson.dumps([envelope, "", "celery"])
    assert message_bodies(unacked) == [b'[["u-1"], {}, {}]']
    assert message_bodies(b'{"no": "envelope"}') == []


# --- the scan --------------------------------------------------------------------------------
async def test_scan_finds_planted_traces_everywhere(world: World) -> None:
    w = world
    secret, accented = w.sentence(SECRET), w.sentence(ACCENTED)
    # Parquet: the user's own row, and their email inside another user's encrypted body.
    w.events(
        [
            (w.uid, w.subject, {"text": SECRET}),
            (w.other, w.other_subject, {"text": f"ask {w.email} about it"}),
        ]
    )
    # A table log that leaked the id; a checkpoint whose stats hold it (nested columns).
    w.lake.write_bytes(
        "raw/leak/_delta_log/00000000000000000007.json",
        orjson.dumps(
            {"commitInfo": {"operationParameters": {"predicate": f"user_id = '{w.uid}'"}}}
        ),
    )
    stats_uri = w.lake.uri("raw/stats")
    write_deltalake(
        stats_uri, pa.table({"user_id": [w.uid, w.other]}), storage_options=w.lake.storage_options
    )
    DeltaTable(stats_uri, storage_options=w.lake.storage_options).create_checkpoint()
    # A gzipped JSON backup (non-ASCII escaped, as json.dumps does), a CSV, a zip.
    backup = json.dumps([{"note": ACCENTED + " indeed"}]).encode()
    assert b"\\u00e9" in backup
    w.lake.write_bytes("backups/consent/2026-01-01.json.gz", gzip.compress(backup))
    out = io.StringIO()
    csv.writer(out).writerows([["user_id", "email"], [w.uid, w.email]])
    w.lake.write_bytes("uploads/t1/people.csv", out.getvalue().encode())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("events.json", json.dumps({"by": w.email}))
    w.lake.write_bytes("exports/old.zip", archive.getvalue())
    # Postgres: the user's sentence in their row (a trace) and in another's (shared).
    async with get_engine().begin() as conn:
        await conn.execute(
            text(f"INSERT INTO {w.schema}.notes (subject_key, note) VALUES (:s, :n), (:o, :m)"),
            {"s": w.subject, "n": json.dumps({"t": SECRET}), "o": w.other_subject,
             "m": json.dumps({"t": SHARED + " and more"})},
        )  # fmt: skip
    # Redis: a kombu message whose base64 body names the user; a key named after them.
    body = base64.b64encode(orjson.dumps([[w.uid], {}, {}])).decode()
    message = {"body": body, "content-encoding": "utf-8", "content-type": "application/json",
               "headers": {"task": "x"}, "properties": {"body_encoding": "base64"}}  # fmt: skip
    async with redis_client() as redis:
        await redis.rpush(f"{w.redis_prefix}-queue", orjson.dumps(message))
        await redis.hset(f"consent:{w.uid}", "purpose", "research")

    report = await w.run()

    found = ours(report, w)
    where = {(place.split("/")[0], kind) for place, _, kind, _ in found}
    assert any(p.startswith("lake:raw") and k == "subject_key" for p, k in where)
    assert ("lake:raw", "identifier") in where
    events = [f for f in found if f[0].startswith("lake:raw/events/") and f[0].endswith(".parquet")]
    assert any(c == "body" and k == "sentence" and i == secret for _, c, k, i in events)
    assert any(c == "body" and k == "identifier" and i == 1 for _, c, k, i in events)  # email
    assert any(c == "user_id" and k == "identifier" and i == 0 for _, c, k, i in events)
    assert any(p.startswith("lake:raw/leak/_delta_log/") for p, _, _, _ in found)
    assert any(p.endswith(".checkpoint.parquet") for p, _, _, _ in found)
    assert ("lake:backups/consent/2026-01-01.json.gz", None, "sentence", accented) in found
    assert ("lake:uploads/t1/people.csv", None, "identifier", 1) in found
    assert ("lake:exports/old.zip!events.json", None, "identifier", 1) in found
    assert (f"pg:{w.schema}.notes", None, "sentence", secret) in found
    assert (f"redis:{w.redis_prefix}-queue", "(message body)", "identifier", 0) in found
    assert ("redis:consent:<identifier:0>", "(key)", "identifier", 0) in found
    assert w.sentence(SHARED) in report.shared_sentences
    assert not report.clean
    assert report.undecryptable == 0
    assert report.pg_tables > 0 and report.redis_keys >= 2 and report.parquet_rows >= 4
    assert_no_needle_text(report, w)


async def test_clean_lake_shared_sentences_and_excluded_prefixes(world: World) -> None:
    w = world
    shared = w.sentence(SHARED)
    w.events([(w.other, w.other_subject, {"text": f"{SHARED}. {OTHER}. Ask {w.uid}0."})])
    w.lake.write_bytes(
        "notes/other.txt", f"{w.other} wrote; x{w.uid}; {w.uid}.5; {w.uid}0".encode()
    )
    w.lake.write_bytes(f"subject-requests/{uuid.uuid4()}/parts/ingest", w.uid.encode())
    # A copy that names no one (a training export's line): shared elsewhere, so not a trace.
    w.lake.write_bytes("processed/training.jsonl", orjson.dumps({"prompt": SHARED}) + b"\n")
    async with get_engine().begin() as conn:
        await conn.execute(
            text(f"INSERT INTO {w.schema}.notes (subject_key, note) VALUES (:o, :m)"),
            {"o": w.other_subject, "m": json.dumps({"t": SHARED, "by": w.other})},
        )

    report = await w.run(exclude_prefixes=("subject-requests/",))

    assert ours(report, w) == []
    assert shared in report.shared_sentences
    shared_places = {k.where for k, _ in report.hits if k.shared}
    assert f"pg:{w.schema}.notes" in shared_places
    assert any(p.startswith("lake:raw/events/") for p in shared_places)
    assert report.skipped_objects == 1
    assert report.to_dict()["shared_sentences"] == report.shared_sentences
    assert_no_needle_text(report, w)


async def test_shredded_values_are_counted_undecryptable(world: World) -> None:
    w = world
    w.events([(w.uid, w.subject, {"text": SECRET}), (w.other, w.other_subject, {"t": OTHER})])
    keys = {w.other_subject: w.keys[w.other_subject]}  # the user's key destroyed

    report = await w.run(keys=keys)

    assert report.undecryptable == 1
    kinds = {(k.column, k.kind) for k, _ in report.traces if k.where.startswith("lake:raw/events")}
    assert ("subject_key", "subject_key") in kinds  # the row itself is still there (not purged)
    assert ("body", "sentence") not in kinds  # but its text can no longer be read
