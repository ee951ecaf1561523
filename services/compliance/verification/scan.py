"""The verification scan: after the purge, look everywhere for what the erased user left.

Searched: every object under the lake root (data files and table logs alike: Parquet column by
column, encrypted values decrypted with their row's user's key; JSON, CSV, logs and anything
else as bytes; gzip, bzip2, xz and zip opened), every table of every non-system Postgres schema
(streamed with COPY, so a big table costs one sequential read), and every Redis key of the
configured db (Celery/kombu messages' base64 bodies decoded), and Qdrant (the local folder's
files as bytes, or a server's mindlake_ collections' payloads). All needles are searched in one
pass over the bytes (services/compliance/verification/needles.py).

A sentence of the user's found in a row that belongs to another subject (its `subject_key`
differs) is shared content, such as a greeting many users send: reported apart, not a trace.
The report names needles by index, never by text, and redacts needle text from the places
it names (a key or path that holds an id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.lake import Lake
from libs.common.settings import CommonSettings, get_settings
from services.compliance.verification.lake import LakeScan
from services.compliance.verification.needles import Matcher, Needles
from services.compliance.verification.postgres import scan_postgres
from services.compliance.verification.qdrant import scan_qdrant
from services.compliance.verification.redis import scan_redis
from services.compliance.verification.report import ScanReport

log = logging.getLogger(__name__)


async def scan(
    needles: Needles,
    *,
    lake: Lake,
    engine: AsyncEngine | None,
    redis: Redis[Any] | None,
    keys: Mapping[str, bytes],
    exclude_prefixes: Sequence[str] = (),
    qdrant: CommonSettings | None = None,
    search_qdrant: bool = True,
) -> ScanReport:
    """Search the lake, Postgres and Redis for the needles. `keys`: every live data key by
    subject_key (the erased user's is gone: their leftover values count as undecryptable).
    `exclude_prefixes`: lake prefixes not searched (the request's own sealed working files).
    A store given as None is not searched. Qdrant (`qdrant`: the settings naming it, default
    the process's) is searched unless `search_qdrant` is false."""
    started = time.monotonic()
    matcher = Matcher(needles)
    report = ScanReport(
        needles={"identifiers": len(needles.identifiers), "sentences": len(needles.sentences)}
    )
    parts: list[Any] = [
        asyncio.to_thread(LakeScan(matcher, lake, keys, tuple(exclude_prefixes)).run)
    ]
    if engine is not None:
        parts.append(scan_postgres(matcher, engine))
    if redis is not None:
        parts.append(scan_redis(matcher, redis))
    if search_qdrant:
        parts.append(asyncio.to_thread(scan_qdrant, matcher, qdrant or get_settings()))
    for part in await asyncio.gather(*parts):
        report.merge(part)
    report.seconds = time.monotonic() - started
    log.info(
        "trace scan done",
        extra={"traces": len(report.traces), "objects": report.objects,
               "parquet_rows": report.parquet_rows, "pg_tables": report.pg_tables,
               "redis_keys": report.redis_keys, "seconds": round(report.seconds, 1)},
    )  # fmt: skip
    return report
