"""Every query of the CSV upload (ingest.csv_uploads)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.lake_locks import take_tenant_table_lock


async def lock_table(conn: AsyncConnection, tenant: str, data_type: str) -> None:
    """Serialize writers of one tenant table until the transaction ends (a Delta MERGE
    conflicts with a concurrent one); erasure and retention take it too (libs.common.lake_locks)."""
    await take_tenant_table_lock(conn, tenant, data_type)


async def insert_upload(
    conn: AsyncConnection,
    *,
    upload_id: str,
    tenant: str,
    data_type: str,
    sha256: str,
    size: int,
    key_id: str | None,
) -> None:
    await conn.execute(
        text(
            "INSERT INTO ingest.csv_uploads (upload_id, tenant, data_type, status, sha256, bytes,"
            " key_id) VALUES (:u, :t, :d, 'processing', :s, :b, :k)"
        ),
        {"u": upload_id, "t": tenant, "d": data_type, "s": sha256, "b": size, "k": key_id},
    )


async def finish_upload(
    conn: AsyncConnection, upload_id: str, status: str, report: dict[str, Any]
) -> None:
    await conn.execute(
        text(
            "UPDATE ingest.csv_uploads SET status = :st, report = CAST(:r AS jsonb),"
            " finished_at = now() WHERE upload_id = :u"
        ),
        {"u": upload_id, "st": status, "r": orjson.dumps(report).decode()},
    )


async def get_report(conn: AsyncConnection, upload_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            text(
                "SELECT upload_id, tenant, data_type, status, sha256, bytes, report::text,"
                " created_at FROM ingest.csv_uploads WHERE upload_id = :u"
            ),
            {"u": upload_id},
        )
    ).first()
    if row is None:
        return None
    report: dict[str, Any] = orjson.loads(row[6]) if row[6] else {}
    # a report is written when the upload ends; before that, what is known
    return {
        "upload_id": row[0],
        "tenant": row[1],
        "data_type": row[2],
        "bytes": row[5],
        "sha256": row[4],
        "created_at": row[7].isoformat(),
        **report,
        "status": row[3],
    }
