"""Daily consent backup: the whole ledger as one gzipped JSON document in the lake,
`<prefix>/<YYYY-MM-DD>_consent_backup.json.gz`, streamed (never held in memory)."""

from __future__ import annotations

import contextlib
import gzip
from dataclasses import dataclass
from datetime import UTC, date, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.lake import Lake
from services.consent import repository

BATCH_ROWS = 10_000


@dataclass(frozen=True)
class BackupReport:
    path: str
    entries: int


def backup_path(prefix: str, day: date) -> str:
    return f"{prefix.rstrip('/')}/{day.isoformat()}_consent_backup.json.gz"


async def backup_ledger(
    engine: AsyncEngine, lake: Lake, *, prefix: str, day: date | None = None
) -> BackupReport:
    """Write the ledger (every entry, oldest first) to the lake; a rerun the same day
    replaces that day's file."""
    now = datetime.now(UTC)
    path = backup_path(prefix, day or now.date())
    count = 0
    stream = lake.open_output_stream(path)
    try:
        with gzip.GzipFile(fileobj=stream, mode="wb") as out:
            header = {"kind": "consent_ledger", "format": 1, "generated_at": now.isoformat()}
            out.write(orjson.dumps(header)[:-1] + b',"entries":[')
            after_id = 0
            async with engine.connect() as conn:
                while rows := await repository.ledger_after(conn, after_id, BATCH_ROWS):
                    for row in rows:
                        out.write((b"," if count else b"") + orjson.dumps(dict(row._mapping)))
                        count += 1
                    after_id = rows[-1].id
            out.write(b'],"count":' + str(count).encode() + b"}")
        stream.close()
    except BaseException:
        with contextlib.suppress(Exception):  # no half-written backup left looking complete
            stream.close()
            lake.delete(path)
        raise
    return BackupReport(path=path, entries=count)
