"""CSV upload: validation report, landing in the tenant's Delta table, quarantine, dead
letters and idempotent re-uploads, on a local folder and on S3 over HTTP."""

from __future__ import annotations

import io
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.lake import Lake
from tests.ingest.csv_support import BAD_CSV, HEADER, csv_client, landed, tenant, upload

__all__ = ["csv_client"]  # fixture, shared by the CSV upload tests


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
