"""CSV upload: validation report, landing in the tenant's Delta table, quarantine, dead
letters, idempotent re-uploads and bounded memory, on a local folder and on S3 over HTTP."""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.lake import Lake

HEADER = "user_id,item_id,interaction_type,timestamp,rating,note\n"
# 12 data rows; row numbers count from the first line after the header
BAD_CSV = (
    HEADER
    + "u_1,i_1,view,2026-01-05T10:00:00Z,4.5,ok\n"  # 1 valid
    + "u_2,i_2,click,2026-01-05 11:00:00+00:00,,ok\n"  # 2 valid (no rating)
    + ",i_3,view,2026-01-05T10:00:00Z,,\n"  # 3 not_null user_id
    + "u_4,i_4,bogus,2026-01-05T10:00:00Z,,\n"  # 4 allowed_values
    + "u_5,i_5,like,not-a-time,,\n"  # 5 type timestamp
    + "u_6,i_6,like,2019-12-31T23:59:59Z,,\n"  # 6 timestamp_range (before the floor)
    + "u_7,i_7,like,2999-01-01T00:00:00Z,,\n"  # 7 timestamp_range (future)
    + "u_1,i_1,view,2026-01-05T10:00:00+00:00,4.5,again\n"  # 8 duplicate of row 1
    + "u_9,i_9,purchase,2026-01-06T00:00:00Z,abc,\n"  # 9 type rating
    + "u_10,i_10,dislike\n"  # 10 malformed (too few fields)
    + "u_11,i_11,purchase,2026-01-07T00:00:00Z,-1,\n"  # 11 min_value rating
    + "u_12,i_12,like,2026-01-07T00:00:00Z,1,\n"  # 12 valid
)


@pytest.fixture
async def csv_client(client: Any, lake_settings: Any) -> AsyncIterator[Any]:
    from services.ingest.main import app

    app.state.ingest_settings = lake_settings  # the endpoint's lake: this test's root
    yield client
    del app.state.ingest_settings


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


async def upload(
    client: Any, body: bytes | Any, tenant_id: str, data_type: str = "interactions"
) -> Any:
    return await client.post(
        "/internal/data/upload-csv",
        params={"tenant": tenant_id, "data_type": data_type},
        content=body,
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )


def landed(settings: Any, path: str) -> list[dict[str, Any]]:
    table = Lake(settings).delta_table(path)
    return [] if table is None else table.to_pyarrow_table().to_pylist()


async def test_bad_csv_gets_a_precise_report_and_good_rows_land(
    csv_client: Any, lake_settings: Any
) -> None:
    t = tenant()
    reply = await upload(csv_client, BAD_CSV.encode(), t)
    assert reply.status_code == 200, reply.text
    report = reply.json()

    rules = {(r["rule"], r["column"]): (r["rows"], r["sample_rows"]) for r in report["rules"]}
    assert rules == {
        ("malformed_row", "*"): (1, [10]),
        ("not_null", "user_id"): (1, [3]),
        ("type", "timestamp"): (1, [5]),
        ("type", "rating"): (1, [9]),
        ("allowed_values", "interaction_type"): (1, [4]),
        ("timestamp_range", "timestamp"): (2, [6, 7]),
        ("min_value", "rating"): (1, [11]),
        ("duplicate", "user_id,item_id,interaction_type,timestamp"): (1, [8]),
    }
    assert report["rows_total"] == 12
    assert report["rows_valid"] == report["rows_landed"] == 3
    assert report["rows_rejected"] == 9
    assert report["ignored_columns"] == ["note"]
    assert report["status"] == "landed"
    assert report["dead_letters"] == 9

    # the good rows, typed, in the tenant's table
    rows = landed(lake_settings, f"raw/tenants/{t}/interactions")
    assert sorted((r["user_id"], r["interaction_type"], r["rating"]) for r in rows) == [
        ("u_1", "view", 4.5),
        ("u_12", "like", 1.0),
        ("u_2", "click", None),
    ]
    lake = Lake(lake_settings)
    table = lake.delta_table(f"raw/tenants/{t}/interactions")
    assert table is not None and table.metadata().partition_columns == ["event_date"]
    # no user id in the table log (file statistics only on non-identifying columns)
    for obj in lake.list(f"raw/tenants/{t}/interactions/_delta_log"):
        assert b"u_1" not in lake.read_bytes(obj.path), obj.path

    # the rejected rows, with their reasons, in the quarantine
    quarantine = pq.read_table(
        io.BytesIO(
            lake.read_bytes(f"raw/quarantine/{t}/interactions/{report['upload_id']}.parquet")
        )
    ).to_pylist()
    assert report["quarantine"] == f"raw/quarantine/{t}/interactions/{report['upload_id']}.parquet"
    by_row = {q["row_number"]: q for q in quarantine}
    assert sorted(by_row) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert by_row[4]["reason"] == "allowed_values:interaction_type"
    assert by_row[4]["interaction_type"] == "bogus"
    assert (
        by_row[10]["reason"] == "malformed_row:*" and by_row[10]["raw_text"] == "u_10,i_10,dislike"
    )

    # and in the dead-letter store
    async with get_engine().connect() as conn:
        letters = (
            await conn.execute(
                text(
                    "SELECT source, error_kind, field FROM ingest.dead_letters"
                    " WHERE reason LIKE :r ORDER BY id"
                ),
                {"r": f"CSV upload {report['upload_id']} %"},
            )
        ).all()
    assert len(letters) == 9 and {s for s, _, _ in letters} == {"csv"}
    assert ("csv", "parse_error", None) in letters and ("csv", "missing", "user_id") in letters

    # the stored report
    stored = await csv_client.get(f"/internal/data/uploads/{report['upload_id']}")
    assert stored.status_code == 200
    assert stored.json()["rules"] == report["rules"] and stored.json()["status"] == "landed"


async def test_reupload_lands_nothing_twice(csv_client: Any, lake_settings: Any) -> None:
    t = tenant()
    first = (await upload(csv_client, BAD_CSV.encode(), t)).json()
    again = (await upload(csv_client, BAD_CSV.encode(), t)).json()
    assert first["sha256"] == again["sha256"] and first["upload_id"] != again["upload_id"]
    assert again["rows_landed"] == 0 and again["rows_already_landed"] == 3
    # the same interaction with its time written another way is the same row
    overlap = HEADER + "u_1,i_1,view,2026-01-05 10:00:00,4.5,\nu_13,i_13,view,2026-01-08,,\n"
    third = (await upload(csv_client, overlap.encode(), t)).json()
    assert third["rows_landed"] == 1 and third["rows_already_landed"] == 1
    assert len(landed(lake_settings, f"raw/tenants/{t}/interactions")) == 4
    lake = Lake(lake_settings)  # MERGE commits copy no user id into the log either
    log = [lake.read_bytes(o.path) for o in lake.list(f"raw/tenants/{t}/interactions/_delta_log")]
    assert len(log) >= 2 and not any(b"u_1" in entry or b"u_13" in entry for entry in log)


async def test_items_upsert_by_item_id(csv_client: Any, lake_settings: Any) -> None:
    t = tenant()
    body = "item_id,category,title,price\nit_1,books,A,10\nit_2,music,B,\nit_3,,C,1\n"
    report = (await upload(csv_client, body.encode(), t, "items")).json()
    assert report["rows_landed"] == 2
    assert [(r["rule"], r["column"], r["sample_rows"]) for r in report["rules"]] == [
        ("not_null", "category", [3])
    ]
    changed = "item_id,category,title,price\nit_1,books,A,12\nit_2,music,B,\n"
    report = (await upload(csv_client, changed.encode(), t, "items")).json()
    assert (report["rows_landed"], report["rows_updated"], report["rows_already_landed"]) == (
        0,
        1,
        1,
    )
    prices = {r["item_id"]: r["price"] for r in landed(lake_settings, f"raw/tenants/{t}/items")}
    assert prices == {"it_1": 12.0, "it_2": None}


async def test_missing_columns_are_a_422_and_nothing_lands(
    csv_client: Any, lake_settings: Any
) -> None:
    t = tenant()
    reply = await upload(csv_client, b"user_id,item_id\nu_1,i_1\n", t)
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in reply.json()["errors"]} == {"interaction_type", "timestamp"}
    assert "interaction_type, timestamp" in reply.json()["detail"]
    assert Lake(lake_settings).list(f"raw/tenants/{t}") == []
    assert Lake(lake_settings).list(f"raw/quarantine/{t}") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tenant": "Acme Corp", "data_type": "interactions"}, "tenant"),
        ({"tenant": "../etc", "data_type": "items"}, "tenant"),
        ({"tenant": "acme", "data_type": "users"}, "data_type"),
    ],
)
async def test_bad_tenant_or_data_type_is_a_422(
    client: Any, params: dict[str, str], field: str
) -> None:
    reply = await client.post("/internal/data/upload-csv", params=params, content=BAD_CSV.encode())
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == [field]


async def test_upload_needs_an_ingest_key(client: Any) -> None:
    reply = await client.post(
        "/internal/data/upload-csv",
        params={"tenant": "acme", "data_type": "items"},
        content=b"item_id,category\n",
        headers={"Authorization": "Bearer mlk_nope_nope"},
    )
    assert reply.status_code == 401
    assert (await client.get("/internal/data/uploads/nope")).status_code == 404


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples this process's resident memory while a block runs."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


def write_large_csv(path: Path, rows: int) -> None:
    """An export as a tenant would send it: in time order, one interaction a second."""
    pad = "x" * 2000  # an ignored column (a wide export): a 600 MB file; never parsed to memory
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with path.open("w") as f:
        f.write(HEADER)
        for i in range(rows):
            kind = ("view", "click", "purchase", "like", "dislike")[i % 5]
            bad = i % 1000 == 999  # one row in a thousand is rejected
            at = (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            f.write(
                f"user_{i % 5000},item_{i % 777},{'nope' if bad else kind},{at},{i % 5 + 1},{pad}\n"
            )


async def stream(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            yield block


@pytest.mark.slow
async def test_large_csv_streams_with_bounded_memory(
    csv_client: Any, lake_settings: Any, tmp_path: Path
) -> None:
    if Lake(lake_settings).is_s3:
        pytest.skip("the large file runs on the local root only (the S3 path is the same code)")
    rows = 300_000
    path = tmp_path / "large.csv"
    write_large_csv(path, rows)
    size = path.stat().st_size
    t = tenant()
    await upload(csv_client, BAD_CSV.encode(), t)  # warm up: imports, first table commit

    started = time.monotonic()
    with PeakRss() as rss:
        reply = await upload(csv_client, stream(path), t)
    elapsed = time.monotonic() - started
    assert reply.status_code == 200, reply.text
    report = reply.json()
    print(
        f"\n{rows} rows, {size / 1e6:.0f} MB in {elapsed:.1f} s;"
        f" peak RSS growth {rss.growth / 1e6:.0f} MB"
    )
    assert report["rows_total"] == rows
    assert report["rows_rejected"] == rows // 1000
    rejected = next(r for r in report["rules"] if r["rule"] == "allowed_values")
    assert rejected["sample_rows"] == list(range(1000, 10_001, 1000))
    assert report["rows_landed"] + report["rows_already_landed"] == rows - rows // 1000
    assert rss.growth < size / 2, (rss.growth, size)
    table = Lake(lake_settings).delta_table(f"raw/tenants/{t}/interactions")
    assert table is not None
    assert table.count() == report["rows_landed"] + 3  # plus the warm-up's rows


async def test_unclosed_quote_and_non_utf8(csv_client: Any, lake_settings: Any) -> None:
    t = tenant()
    body = HEADER + 'u_1,i_1,view,2026-01-05T10:00:00Z,,\nu_2,"i_2,view,2026-01-05,,\nu_3,i_3\n'
    report = (await upload(csv_client, body.encode(), t)).json()
    assert (report["rows_landed"], report["rows_rejected"]) == (1, 1)
    assert [(r["rule"], r["rows"], r["sample_rows"]) for r in report["rules"]] == [
        ("malformed_row", 1, [2])  # the quote swallows the rest of the file into row 2
    ]
    reply = await upload(csv_client, HEADER.encode() + b"u_\xff,i,view,2026-01-05,,\n", t)
    assert reply.status_code == 422 and "UTF-8" in reply.json()["detail"]


async def test_uploads_feed_the_quality_report(csv_client: Any) -> None:
    from services.ingest.quality import service as quality

    t = tenant()
    await upload(csv_client, BAD_CSV.encode(), t)
    await upload(csv_client, BAD_CSV.encode(), t)  # every valid row is now a duplicate
    async with get_engine().connect() as conn:
        figures = {(f.source, f.data_type): f for f in await quality.report(conn)}
    mine = figures[(t, "interactions")]
    # 3 landed; 1 in-file duplicate per upload + 3 already landed the second time; 8 invalid each
    assert (mine.accepted, mine.duplicate, mine.rejected) == (3, 5, 16)
    assert mine.validity_percent == round(100 * 3 / 19, 2)


async def test_interactions_carry_a_keyed_subject_for_erasure(
    csv_client: Any, lake_settings: Any
) -> None:
    from libs.common.subjects import subject_key

    t = tenant()
    await upload(csv_client, BAD_CSV.encode(), t)
    rows = landed(lake_settings, f"raw/tenants/{t}/interactions")
    assert {r["subject_key"] for r in rows} == {
        subject_key(r["user_id"], lake_settings) for r in rows
    }
    # a delete by the keyed hash writes no user id into the table log
    table = Lake(lake_settings).delta_table(f"raw/tenants/{t}/interactions")
    assert table is not None
    table.delete(f"subject_key = '{subject_key('u_1', lake_settings)}'")
    lake = Lake(lake_settings)
    log = [lake.read_bytes(o.path) for o in lake.list(f"raw/tenants/{t}/interactions/_delta_log")]
    assert not any(b"u_1" in entry for entry in log)
    assert sorted(r["user_id"] for r in landed(lake_settings, f"raw/tenants/{t}/interactions")) == [
        "u_12",
        "u_2",
    ]


async def _key(*, tenants: list[str], scopes: list[str] | None = None) -> dict[str, str]:
    from libs.common.auth import Scope, create_key
    from libs.common.db import session_maker

    async with session_maker()() as session:
        _, key = await create_key(
            session,
            name="tenant-test",
            scopes=scopes or [Scope.INGEST_WRITE],
            services=["journal-service"],
            tenants=tenants,
        )
        await session.commit()
    return {"Authorization": f"Bearer {key}"}


async def test_keys_upload_and_read_only_within_their_tenants(
    csv_client: Any, lake_settings: Any
) -> None:
    mine, theirs = tenant(), tenant()
    limited = await _key(tenants=[mine])
    body = b"item_id,category\ni_1,books\n"
    params = {"data_type": "items"}
    ok = await csv_client.post(
        "/internal/data/upload-csv",
        params={"tenant": mine, **params},
        content=body,
        headers={**limited, "Content-Type": "text/csv"},
    )
    assert ok.status_code == 200, ok.text
    refused = await csv_client.post(
        "/internal/data/upload-csv",
        params={"tenant": theirs, **params},
        content=body,
        headers={**limited, "Content-Type": "text/csv"},
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["detail"] == f"the API key may not write for tenant '{theirs}'"
    assert problem["errors"] == [{"field": "tenant", "reason": "not among the API key's tenants"}]
    assert landed(lake_settings, f"raw/tenants/{theirs}/items") == []

    # the other tenant's upload (by an unlimited key) is a 404 to the limited key, like an
    # unknown id; its own upload and, with admin, every upload are readable
    other = await upload(csv_client, body, theirs, "items")
    assert other.status_code == 200
    other_id, own_id = other.json()["upload_id"], ok.json()["upload_id"]
    hidden = await csv_client.get(f"/internal/data/uploads/{other_id}", headers=limited)
    unknown = await csv_client.get(f"/internal/data/uploads/{'0' * 32}", headers=limited)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"] == unknown.json()["detail"]
    own = await csv_client.get(f"/internal/data/uploads/{own_id}", headers=limited)
    assert own.status_code == 200 and own.json()["tenant"] == mine
    admin = await _key(tenants=[mine], scopes=["admin"])
    seen = await csv_client.get(f"/internal/data/uploads/{other_id}", headers=admin)
    assert seen.status_code == 200 and seen.json()["tenant"] == theirs
    # an unlimited key (the fixture's) reads both
    assert (await csv_client.get(f"/internal/data/uploads/{own_id}")).status_code == 200


@pytest.mark.parametrize("upload_id", ["%00", "x" * 200, "ABC", "%E2%82%AC"])
async def test_odd_upload_ids_are_a_404(client: Any, upload_id: str) -> None:
    reply = await client.get(f"/internal/data/uploads/{upload_id}")
    assert reply.status_code == 404
    assert reply.json()["detail"] == "no upload with this id"


async def test_a_tenant_with_a_trailing_newline_is_a_422(client: Any) -> None:
    reply = await client.post(
        "/internal/data/upload-csv",
        params={"tenant": "acme\n", "data_type": "items"},
        content=b"item_id,category\n",
    )
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["tenant"]


async def test_a_failing_dead_letter_store_never_fails_the_landed_rows(
    csv_client: Any, lake_settings: Any, refusing_dead_letter_store: None
) -> None:
    t = tenant()
    reply = await upload(csv_client, BAD_CSV.encode(), t)
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["status"] == "landed"
    assert report["rows_landed"] == 3
    assert report["rows_rejected"] == 9
    assert report["dead_letters"] == 0  # refused by the store: counted, not claimed
    assert len(landed(lake_settings, f"raw/tenants/{t}/interactions")) == 3


async def test_a_user_id_that_is_an_email_or_phone_is_rejected_and_never_lands(
    csv_client: Any, lake_settings: Any
) -> None:
    t = tenant()
    body = (
        HEADER
        + "u_1,i_1,view,2026-01-05T10:00:00Z,,\n"
        + "leaktest123@example.org,i_2,view,2026-01-05T10:00:00Z,,\n"
        + "555-123-4567,i_3,view,2026-01-05T10:00:00Z,,\n"
    )
    reply = await upload(csv_client, body.encode(), t)
    assert reply.status_code == 200, reply.text
    report = reply.json()
    rules = {(r["rule"], r["column"]): r["sample_rows"] for r in report["rules"]}
    assert rules == {("opaque_id", "user_id"): [2, 3]}
    assert "leaktest123" not in reply.text
    rows = landed(lake_settings, f"raw/tenants/{t}/interactions")
    assert [r["user_id"] for r in rows] == ["u_1"]
