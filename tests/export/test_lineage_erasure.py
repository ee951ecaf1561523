"""Lineage and erasure of finished exports, over the real stack (Postgres, a local lake and S3
over HTTP): every exported line is traced to its user; erasing a user rewrites the files
without their lines (and only theirs), writes a new manifest revision, keeps the other
users' lineage right, and a second erasure finds nothing. A user erased while an export ran
is removed from it when it finishes."""

from __future__ import annotations

import gzip
import hashlib
import io
import uuid
from typing import Any

import orjson
import pyarrow.parquet as pq
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.settings import get_settings
from libs.common.subject_rights import SubjectContext
from libs.common.subjects import subject_key
from services.export.lineage.rewrite import versioned
from services.export.lineage.withdrawals import drop_withdrawn
from services.export.subjects.stores import TrainingData
from tests.export.service_helpers import create, run
from tests.export.test_training_pipeline import World, consent, world  # noqa: F401 - the fixture


def context(w: World, name: str) -> SubjectContext:
    user = w.user(name)
    return SubjectContext(
        request_id=uuid.uuid4(),
        kind="erasure",
        user_id=user,
        subject_key=subject_key(user, w.settings),
        data_key=None,
        settings=get_settings(),
        lake=w.lake,
        engine=get_engine(),
    )


def lines(lake: Lake, path: str) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in gzip.decompress(lake.read_bytes(path)).splitlines()]


async def lineage(export_id: uuid.UUID) -> list[tuple[str, str, int]]:
    async with get_engine().connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT subject_key, file, line FROM export.lineage WHERE export_id = :id"
                " ORDER BY file, line"
            ),
            {"id": export_id},
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_erasure_rewrites_the_files_without_the_users_lines(world: World) -> None:  # noqa: F811
    w = world
    export_id = await create()
    row = await run(export_id, w.settings)
    paths = row["paths"]
    train, validation = (
        lines(w.lake, paths["train_jsonl"]),
        lines(w.lake, paths["validation_jsonl"]),
    )
    traced = await lineage(export_id)
    assert len(traced) == len(train) + len(validation)  # every line, once
    assert {f for _, f, _ in traced} == {paths["train_jsonl"], paths["validation_jsonl"]}

    handler = TrainingData()
    ok3, ok4 = context(w, "ok3"), context(w, "ok4")
    mine = await handler.collect(ok3)
    assert len(mine.records) == 3 and not mine.identifiers
    assert all(r["export_id"] == str(export_id) for r in mine.records)
    theirs = await handler.collect(ok4)
    assert len(theirs.records) == 3
    side = mine.records[0]["file"]
    name = "train" if side == paths["train_jsonl"] else "validation"

    counts = await handler.erase(ok3)
    assert counts == {"exports_rewritten": 1, "records": 3}

    async with get_engine().connect() as conn:
        after = (
            await conn.execute(
                text(
                    "SELECT paths, version, manifest, counts, superseded FROM export.exports"
                    " WHERE id = :id"
                ),
                {"id": export_id},
            )
        ).one()
    assert after.version == 2 and after.superseded == []
    new_path = after.paths[f"{name}_jsonl"]
    assert new_path == versioned(side, 2) and new_path.endswith(f"_{name}.v2.jsonl.gz")
    assert not w.lake.exists(side)  # the old file is gone
    rewritten = lines(w.lake, new_path)
    before = train if name == "train" else validation
    kept = [
        r
        for r in before
        if r
        not in [
            {k: v for k, v in m.items() if k in ("prompt", "completion", "metadata")}
            for m in mine.records
        ]
    ]
    assert rewritten == kept and len(rewritten) == len(before) - 3
    # byte format of the writer: gzip without a time or a name
    raw = w.lake.read_bytes(new_path)
    assert raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08
    # the Parquet beside it lost the same rows
    table = pq.read_table(io.BytesIO(w.lake.read_bytes(after.paths[f"{name}_parquet"])))
    assert table.column("prompt").to_pylist() == [r["prompt"] for r in rewritten]
    assert not w.lake.exists(paths[f"{name}_parquet"])

    # the new manifest revision: its own file, checksums of the new files, counts
    manifest = after.manifest
    assert manifest["revision"] == 2 and manifest["revisions"][-1]["records_erased"] == 3
    assert after.paths["manifest"].endswith(".manifest.v2.json")
    assert orjson.loads(w.lake.read_bytes(after.paths["manifest"])) == manifest
    for entry in manifest["files"].values():
        data = w.lake.read_bytes(entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    assert manifest["counts"][f"out_{name}"] == len(rewritten)
    assert after.counts["erased"] == 3

    # nothing of ok3 left; ok4's lineage still points at ok4's lines
    assert (await handler.collect(ok3)).records == []
    again = await handler.collect(ok4)
    strip = [{k: r[k] for k in ("prompt", "completion", "metadata")} for r in theirs.records]
    assert [{k: r[k] for k in ("prompt", "completion", "metadata")} for r in again.records] == strip
    assert len(await lineage(export_id)) == len(traced) - 3
    assert await handler.erase(ok3) == {"exports_rewritten": 0, "records": 0}


async def test_a_user_erased_while_the_export_ran_is_removed_when_it_ends(
    world: World,  # noqa: F811
) -> None:
    w = world
    erased = subject_key(w.user("ok5"), w.settings)
    async with get_engine().begin() as conn:  # erased after the export read their rows
        await conn.execute(
            text(
                "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
                " VALUES (:k, :r, now())"
            ),
            {"k": erased, "r": str(uuid.uuid4())},
        )
    try:
        export_id = await create()
        row = await run(export_id, w.settings)
    finally:
        async with get_engine().begin() as conn:
            await conn.execute(
                text("DELETE FROM consent.tombstones WHERE subject_key = :k"), {"k": erased}
            )
    assert row["version"] == 2 and row["counts"]["erased"] == 3
    assert all(k != erased for k, _, _ in await lineage(export_id))
    blob = b"".join(
        gzip.decompress(w.lake.read_bytes(row["paths"][n]))
        for n in ("train_jsonl", "validation_jsonl")
    )
    total = row["counts"]["out_train"] + row["counts"]["out_validation"]
    assert blob.count(b"\n") == total


async def test_a_withdrawal_removes_the_users_lines_from_finished_exports(
    world: World,  # noqa: F811
) -> None:
    w = world
    export_id = await create()
    await run(export_id, w.settings)
    ok3 = context(w, "ok3")
    exported = [line for line in await lineage(export_id) if line[0] == ok3.subject_key]
    assert len(exported) == 3

    await consent([(ok3.user_id, False)])  # ok3 withdraws ai_training after the export
    counts = await drop_withdrawn(get_engine(), w.lake, get_settings())

    assert counts["records"] >= 3  # theirs (and any earlier withdrawn user's still there)
    assert [line for line in await lineage(export_id) if line[0] == ok3.subject_key] == []
    async with get_engine().connect() as conn:
        after = (
            await conn.execute(
                text("SELECT paths, version FROM export.exports WHERE id = :id"), {"id": export_id}
            )
        ).one()
    assert after.version == 2
    assert not any(w.lake.exists(file) for _, file, _ in exported)  # the old files are gone
    others = [r for side in ("train_jsonl", "validation_jsonl")
              for r in lines(w.lake, after.paths[side])]  # fmt: skip
    assert others  # the other users' lines stay
    assert (await TrainingData().collect(ok3)).records == []
    assert (await drop_withdrawn(get_engine(), w.lake, get_settings()))["records"] == 0
