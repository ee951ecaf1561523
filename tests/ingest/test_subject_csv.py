"""The ingest service's stores for erasure and portability, CSV upload: tenant tables,
quarantine and dead letters for three users, then collect and erase for one of them, on a
local folder and on S3 over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from libs.common.lake import Lake
from services.ingest.config import IngestSettings
from tests.ingest.lake_scan import find
from tests.ingest.subject_support import collect, context, count, erase, people


# --- CSV: tenant tables, quarantine, dead letters ----------------------------------------------
@pytest.fixture
async def csv_client(client: Any, lake_settings: Any) -> AsyncIterator[Any]:
    from services.ingest.main import app

    app.state.ingest_settings = lake_settings
    yield client
    del app.state.ingest_settings


async def upload(client: Any, body: str, tenant: str, data_type: str) -> dict[str, Any]:
    reply = await client.post(
        "/internal/data/upload-csv",
        params={"tenant": tenant, "data_type": data_type},
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def test_csv_tenant_tables_quarantine_and_dead_letters(
    csv_client: Any, lake_settings: IngestSettings
) -> None:
    ids = {name: p["id"] for name, p in people().items()}
    a, b, c = ids["alice"], ids["bob"], ids["carol"]
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    report = await upload(
        csv_client,
        "user_id,item_id,interaction_type,timestamp,rating\n"
        f"{a},i_1,view,2026-01-05T10:00:00Z,4.5\n"
        f"{a},i_2,like,2026-01-06T10:00:00Z,\n"
        f"{b},i_1,click,2026-01-05T11:00:00Z,\n"
        f"{c},i_3,purchase,2026-01-07T10:00:00Z,5\n"
        f"{a},i_4,bogus,2026-01-05T10:00:00Z,\n"  # rejected: quarantine + dead letter
        f"{b},i_5,bogus,2026-01-05T10:00:00Z,\n"
        f"{a},i_6\n",  # malformed: kept as raw text
        tenant,
        "interactions",
    )
    assert (report["rows_landed"], report["rows_rejected"]) == (4, 3)
    await upload(csv_client, f"item_id,category,title\ni_1,books,{a}x\n", tenant, "items")
    lake = Lake(lake_settings)
    quarantine = report["quarantine"]

    ctx = await context(lake_settings, a)
    stores = ("ingest.tenant_tables", "ingest.quarantine", "ingest.dead_letters")
    got = await collect(ctx, stores)
    assert sorted(r["item_id"] for r in got["ingest.tenant_tables"].records) == ["i_1", "i_2"]
    assert {r["tenant"] for r in got["ingest.tenant_tables"].records} == {tenant}
    assert sorted(r["row_number"] for r in got["ingest.quarantine"].records) == [5, 7]
    assert len(got["ingest.dead_letters"].records) == 2
    assert find(lake, [a], "raw/quarantine") and find(lake, [a], "raw/tenants")

    counts = await erase(ctx, stores)

    assert counts["ingest.tenant_tables"]["rows"] == 2
    assert counts["ingest.quarantine"] == {"rows": 2, "files_rewritten": 1, "files_deleted": 0}
    assert counts["ingest.dead_letters"] == {"rows": 2}
    # the only trace left: the items table's title, which is no user column
    assert find(lake, [a], "raw") == [(f"{_items_file(lake, tenant)}", a)]
    assert (
        await count(
            "SELECT count(*) FROM ingest.dead_letters WHERE payload::text LIKE :p", p=f"%{a}%"
        )
        == 0
    )
    table = lake.delta_table(f"raw/tenants/{tenant}/interactions")
    assert table is not None
    assert sorted(r["user_id"] for r in table.to_pyarrow_table().to_pylist()) == sorted([b, c])
    assert find(
        lake, [b], quarantine.rsplit("/", 1)[0]
    )  # bob's rejected row stays in the rewritten file
    assert await count(
        "SELECT count(*) FROM ingest.dead_letters WHERE payload->>'user_id' = :u", u=b
    )

    again = await erase(ctx, stores)
    assert all(v == 0 for c in again.values() for v in c.values()), again


def _items_file(lake: Lake, tenant: str) -> str:
    (path,) = [
        o.path
        for o in lake.list(f"raw/tenants/{tenant}/items")
        if o.path.endswith(".parquet") and "_delta_log" not in o.path
    ]
    return path
