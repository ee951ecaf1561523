"""Restoring a Delta asset never brings an erased user back (real Postgres, a local lake,
the compliance verification scan): across an erasure the restore is refused, as the erased
rows' files are gone; where an erased user's rows are still in a restorable version, the
restore re-applies the erasure and the scan finds nothing of them. raw/events is never
restored, and a restore must be confirmed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from sqlalchemy import text

from libs.common.auth import Scope
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.subject_rights import Collected
from libs.common.subjects import subject_key
from services.catalog.assets import service
from services.catalog.config import CatalogSettings
from services.compliance.verification.needles import needles_from
from services.compliance.verification.scan import scan
from services.ingest.subjects.lake import purge
from tests.catalog.support import call, key, reconcile

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("lake_settings", ["local"],
                                                                 indirect=True)]  # fmt: skip
TABLE = "raw/tenants/acme/ratings"
# As ingest writes its tables: no min/max of an id in the table log (an erased id would stay).
CONFIG = {"delta.dataSkippingStatsColumns": "item_id,rating"}


def rows(settings: Any, users: list[str]) -> pa.Table:
    return pa.table({"user_id": users, "subject_key": [subject_key(u, settings) for u in users],
                     "item_id": [f"i-{u}" for u in users], "rating": [4] * len(users)})  # fmt: skip


async def tombstone(sk: str) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(
            text("INSERT INTO consent.tombstones VALUES (:k, :r, :t) ON CONFLICT DO NOTHING"),
            {"k": sk, "r": str(uuid.uuid4()), "t": datetime.now(UTC)},
        )


async def traces(settings: CatalogSettings, user: str) -> list[Any]:
    sk = subject_key(user, settings)
    needles = needles_from([Collected()], subject_key=sk, user_id=user)
    report = await scan(needles, lake=Lake(settings), engine=None, redis=None, keys={},
                        search_qdrant=False)  # fmt: skip
    return list(report.traces)


def users_in(lake: Lake) -> list[str]:
    table = lake.delta_table(TABLE)
    assert table is not None
    return sorted(table.to_pyarrow_table(columns=["user_id"]).column("user_id").to_pylist())


async def restore(secret: str, version: int, confirm: bool = True) -> Any:
    asset_id = service.asset_id(TABLE)
    return await call(secret, "POST", f"/v1/assets/{asset_id}/restore",
                      json={"version": version, "drop_later_writes": confirm})  # fmt: skip


async def test_a_restore_across_an_erasure_is_refused(catalog_env: CatalogSettings) -> None:
    lake, tag = Lake(catalog_env), uuid.uuid4().hex[:6]
    erased, kept, later = f"ana-{tag}", f"bo-{tag}", f"cy-{tag}"
    write_deltalake(lake.uri(TABLE), rows(catalog_env, [erased, kept]), configuration=CONFIG)
    write_deltalake(lake.uri(TABLE), rows(catalog_env, [later]), mode="append")  # v1
    purge(lake, TABLE, subject_key(erased, catalog_env))  # the erasure: delete, vacuum
    await tombstone(subject_key(erased, catalog_env))
    await reconcile(catalog_env)
    writer = await key(Scope.CATALOG_WRITE)
    reply = await restore(writer, 0)
    assert reply.status_code == 409, reply.text
    assert "cannot be restored" in reply.json()["detail"]
    assert users_in(lake) == sorted([kept, later])
    assert await traces(catalog_env, erased) == []


async def test_a_restore_re_applies_erasures(catalog_env: CatalogSettings) -> None:
    lake, tag = Lake(catalog_env), uuid.uuid4().hex[:6]
    erased, kept, later = f"di-{tag}", f"ed-{tag}", f"fa-{tag}"
    write_deltalake(lake.uri(TABLE), rows(catalog_env, [erased, kept]), configuration=CONFIG)
    write_deltalake(lake.uri(TABLE), rows(catalog_env, [later]), mode="append")  # v1
    # The user is erased (tombstoned) and their rows deleted, the old file not yet vacuumed.
    DeltaTable(lake.uri(TABLE)).delete(f"subject_key = '{subject_key(erased, catalog_env)}'")
    await tombstone(subject_key(erased, catalog_env))
    assert await traces(catalog_env, erased) != []  # the v0 file still holds them
    await reconcile(catalog_env)
    writer = await key(Scope.CATALOG_WRITE)
    reply = await restore(writer, 0)
    assert reply.status_code == 200, reply.text
    done = reply.json()
    assert done["outcome"] == "restored_erasures_reapplied"
    assert (done["restored_from"], done["restored_to"], done["erasures_reapplied"]) == (2, 0, 1)
    assert done["rows_removed"] == 1 and done["files_purged"] >= 1
    assert users_in(lake) == [kept]  # version 0 without the erased user
    assert await traces(catalog_env, erased) == []  # the verification scan: nothing left
    reader = await key(Scope.CATALOG_READ)
    asset = (await call(reader, "GET", f"/v1/assets/{service.asset_id(TABLE)}")).json()
    assert asset["version"] == done["version"] and asset["rows"] == 1
    async with get_engine().connect() as conn:
        actions = (await conn.scalars(text(
            "SELECT action FROM common.audit_outbox WHERE asset LIKE :a"),
            {"a": f"catalog/assets/{service.asset_id(TABLE)}@0"})).all()  # fmt: skip
    assert "VersionRestore" in actions


async def test_restores_that_are_refused(catalog_env: CatalogSettings) -> None:
    lake = Lake(catalog_env)
    write_deltalake(lake.uri(TABLE), rows(catalog_env, ["u1"]), configuration=CONFIG)
    write_deltalake(lake.uri(TABLE), rows(catalog_env, ["u2"]), mode="append")
    await reconcile(catalog_env)
    writer, reader = await key(Scope.CATALOG_WRITE), await key(Scope.CATALOG_READ)
    unconfirmed = await restore(writer, 0, confirm=False)
    assert unconfirmed.status_code == 422 and "drop_later_writes" in unconfirmed.text
    for version in (1, 5, 2**62):
        reply = await restore(writer, version)
        assert reply.status_code == 422, (version, reply.text)
    raw = service.asset_id("raw/events")
    raw_reply = await call(writer, "POST", f"/v1/assets/{raw}/restore",
                           json={"version": 0, "drop_later_writes": True})  # fmt: skip
    assert raw_reply.status_code == 409 and "acknowledged events" in raw_reply.text
    models = service.asset_id("models/risk")
    not_delta = await call(writer, "POST", f"/v1/assets/{models}/restore",
                           json={"version": 0, "drop_later_writes": True})  # fmt: skip
    assert not_delta.status_code == 422
    assert (await restore(reader, 0)).status_code == 403
    assert users_in(lake) == ["u1", "u2"]  # nothing changed
